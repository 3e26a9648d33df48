/**
 * The entries of *Codehearth: Show Status*: actions, then the status rows.
 *
 * A quick pick highlights its first item, and people press Enter by reflex to close it,
 * so the first item must be harmless (show the log) and *Restart Server* comes last among
 * the actions, after a separator, where only a deliberate choice reaches it.
 *
 * Pure: no `vscode` import; statusItem.ts turns these into QuickPickItems.
 */

import type { ConnectionState, ServerStatus } from './status';
import { statusBarView, statusRows } from './statusView';

export type StatusAction = 'showLog' | 'copyStatus' | 'openSettings' | 'restart';

export type StatusPickEntry =
  | { kind: 'action'; action: StatusAction; label: string; description?: string }
  | { kind: 'separator'; label: string }
  | { kind: 'row'; label: string; description: string };

const SAFE_ACTIONS: StatusPickEntry[] = [
  { kind: 'action', action: 'showLog', label: '$(output) Show Server Log' },
  { kind: 'action', action: 'copyStatus', label: '$(copy) Copy Status as JSON' },
  { kind: 'action', action: 'openSettings', label: '$(gear) Open Settings' },
];

const RESTART: StatusPickEntry = {
  kind: 'action',
  action: 'restart',
  label: '$(debug-restart) Restart Server',
  description: 'stops the server and loads the model again',
};

export const STATUS_PICK_PLACEHOLDER = 'See the status and the log, or restart the server';

/** Everything the picker lists, in order; `status` only counts while running. */
export function statusPickEntries(status: ServerStatus | undefined, connection: ConnectionState): StatusPickEntry[] {
  const shown = connection === 'running' ? status : undefined;
  const entries: StatusPickEntry[] = [
    ...SAFE_ACTIONS,
    { kind: 'separator', label: 'Server' },
    RESTART,
    { kind: 'separator', label: 'Status' },
  ];
  if (connection !== 'running') {
    entries.push({ kind: 'row', label: 'Server', description: connection });
  }
  for (const [label, value] of statusRows(shown)) {
    entries.push({ kind: 'row', label, description: value });
  }
  return entries;
}

/** The picker's title: the status-bar text without its codicons. */
export function statusPickTitle(status: ServerStatus | undefined, connection: ConnectionState): string {
  const view = statusBarView(connection === 'running' ? status : undefined, connection);
  return `codehearth — ${view.text.replace(/\$\([^)]*\)\s*/g, '')}`;
}
