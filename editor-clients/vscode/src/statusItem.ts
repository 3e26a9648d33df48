/**
 * The status-bar item and *Codehearth: Show Status*: keeps the last status the server
 * pushed (or answered to `codehearth.status`), the connection state, and the smoothed
 * speed, and renders them with the pure modules status.ts / statusView.ts / speed.ts /
 * statusPick.ts.
 */

import * as vscode from 'vscode';
import { ExecuteCommandRequest } from 'vscode-languageclient/node';
import type { ServerClient } from './client';
import { errorMessage, SERVER_COMMANDS } from './commands';
import type { ClientLog } from './env';
import { SpeedMeter } from './speed';
import { ConnectionState, parseStatus, ServerStatus } from './status';
import { StatusAction, statusPickEntries, StatusPickEntry, STATUS_PICK_PLACEHOLDER, statusPickTitle } from './statusPick';
import { statusBarView, statusTooltipMarkdown } from './statusView';

const POLL_LOADING_MS = 2000;
const POLL_READY_MS = 15000;

type PickItem = vscode.QuickPickItem & { action?: StatusAction };

function pickItem(entry: StatusPickEntry): PickItem {
  switch (entry.kind) {
    case 'separator':
      return { label: entry.label, kind: vscode.QuickPickItemKind.Separator };
    case 'action':
      return { label: entry.label, description: entry.description, action: entry.action };
    case 'row':
      return { label: entry.label, description: entry.description };
  }
}

export class StatusItem implements vscode.Disposable {
  private connection: ConnectionState = 'stopped';
  private status: ServerStatus | undefined;
  private rawStatus: unknown;
  private pushesSeen = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private readonly speed = new SpeedMeter();
  private readonly item: vscode.StatusBarItem;

  constructor(
    private readonly server: ServerClient,
    private readonly log: ClientLog,
  ) {
    this.item = vscode.window.createStatusBarItem('codehearth.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'codehearth';
    this.item.command = 'codehearth.showStatus';
    this.render();
    this.item.show();
    server.listen({
      connectionChanged: (c) => {
        this.connection = c;
        this.render();
      },
      clientCreated: () => this.forget(),
      statusPushed: (params) => {
        this.pushesSeen = true;
        this.setStatus(params);
      },
      started: async () => {
        await this.refresh();
        this.schedulePoll();
      },
      stopping: () => this.clearPoll(),
    });
  }

  /** A new server: nothing the last one said holds, its speed included. */
  private forget(): void {
    this.status = undefined;
    this.rawStatus = undefined;
    this.pushesSeen = false;
    this.speed.reset();
  }

  private setStatus(raw: unknown): void {
    const parsed = parseStatus(raw);
    if (parsed) {
      this.rawStatus = raw;
      this.status = this.speed.smooth(parsed);
      this.render();
    }
  }

  private render(): void {
    const status = this.connection === 'running' ? this.status : undefined;
    const view = statusBarView(status, this.connection);
    this.item.text = view.text;
    this.item.tooltip = new vscode.MarkdownString(statusTooltipMarkdown(status, this.connection));
    this.item.backgroundColor =
      view.severity === 'error'
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : view.severity === 'warning'
          ? new vscode.ThemeColor('statusBarItem.warningBackground')
          : undefined;
  }

  private async refresh(): Promise<void> {
    const client = this.server.running();
    if (!client) {
      return;
    }
    try {
      const result = await client.sendRequest(ExecuteCommandRequest.type, {
        command: SERVER_COMMANDS.status,
        arguments: [],
      });
      if (client === this.server.current()) {
        this.setStatus(result);
      }
    } catch (err) {
      this.log.line(`codehearth.status failed: ${errorMessage(err)}`);
    }
  }

  /**
   * Pushes keep the item current; until the first push arrives (a server without
   * `codehearth/status`), ask now and then: often while loading, rarely after.
   */
  private schedulePoll(): void {
    this.clearPoll();
    if (this.pushesSeen || !this.server.current()) {
      return;
    }
    const s = this.status?.state;
    const delay = s === undefined || s === 'loading' || s === 'downloading' ? POLL_LOADING_MS : POLL_READY_MS;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      void this.refresh().then(() => this.schedulePoll());
    }, delay);
  }

  private clearPoll(): void {
    if (this.pollTimer) {
      clearTimeout(this.pollTimer);
      this.pollTimer = undefined;
    }
  }

  /** Codehearth: Show Status — the status in detail; the first item is harmless. */
  async showStatus(): Promise<void> {
    await this.refresh();
    const items = statusPickEntries(this.status, this.connection).map(pickItem);
    const picked = await vscode.window.showQuickPick(items, {
      title: statusPickTitle(this.status, this.connection),
      placeHolder: STATUS_PICK_PLACEHOLDER,
      matchOnDescription: true,
    });
    if (picked?.action) {
      await this.run(picked.action);
    }
  }

  private async run(action: StatusAction): Promise<void> {
    switch (action) {
      case 'showLog':
        this.log.show();
        return;
      case 'copyStatus':
        await vscode.env.clipboard.writeText(JSON.stringify(this.rawStatus ?? null, null, 2));
        return;
      case 'openSettings':
        void vscode.commands.executeCommand('workbench.action.openSettings', 'codehearth');
        return;
      case 'restart':
        await this.server.restart();
        return;
    }
  }

  dispose(): void {
    this.clearPoll();
    this.item.dispose();
  }
}
