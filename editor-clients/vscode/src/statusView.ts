/**
 * How the server's status is shown: the status-bar text, the tooltip markdown and the
 * rows of the *Show Status* picker. Kept apart from status.ts, which only reads the
 * payload, so each says one thing.
 *
 * Pure: no `vscode` import.
 */

import type { ConnectionState, Counters, DownloadProgress, LastRequest, ServerStatus, VramInfo } from './status';

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

/** Bytes as GiB with one decimal, without the unit: 5476083712 → "5.1". */
export function gib(bytes: number): string {
  return (bytes / GIB).toFixed(1);
}

/** A human size: "402 MiB", "5.1 GiB". */
export function humanBytes(bytes: number): string {
  if (bytes >= GIB) {
    return `${gib(bytes)} GiB`;
  }
  if (bytes >= MIB) {
    return `${Math.round(bytes / MIB)} MiB`;
  }
  if (bytes >= 1024) {
    return `${Math.round(bytes / 1024)} KiB`;
  }
  return `${Math.round(bytes)} B`;
}

export const MARK = '⬢';

export interface StatusBarView {
  /** Status-bar text; may hold `$(codicon)` references. */
  text: string;
  /** How the item is coloured: error → error background, warning → warning background. */
  severity: 'normal' | 'warning' | 'error';
}

function onGpu(s: ServerStatus): boolean {
  return s.device === 'gpu';
}

/** "5.1/80.0 GiB": process VRAM / GPU total; undefined when neither is known. */
export function vramText(v: VramInfo | undefined): string | undefined {
  if (!v) {
    return undefined;
  }
  const used = v.processBytes;
  const total = v.gpuTotalBytes;
  if (used !== undefined && total !== undefined) {
    return `${gib(used)}/${gib(total)} GiB`;
  }
  if (used !== undefined) {
    return `${gib(used)} GiB`;
  }
  if (total !== undefined) {
    return `?/${gib(total)} GiB`;
  }
  return undefined;
}

function percentText(p: DownloadProgress | undefined): string | undefined {
  if (!p) {
    return undefined;
  }
  let pct = p.percent;
  if (pct === undefined && p.doneBytes !== undefined && p.totalBytes) {
    pct = (100 * p.doneBytes) / p.totalBytes;
  }
  if (pct === undefined) {
    return undefined;
  }
  return `${Math.max(0, Math.min(100, Math.floor(pct)))}%`;
}

/**
 * The status-bar item: `⬢ qwen2.5-coder-1.5b 5.1/80.0 GiB 212 t/s` on the GPU,
 * `⬢ smollm2-135m CPU` on the CPU, and loading / downloading NN% / error states.
 */
export function statusBarView(
  status: ServerStatus | undefined,
  connection: ConnectionState = 'running',
): StatusBarView {
  if (connection === 'failed') {
    return { text: `$(error) ${MARK} codehearth: not running`, severity: 'error' };
  }
  if (connection === 'stopped') {
    return { text: `${MARK} codehearth: stopped`, severity: 'warning' };
  }
  if (connection === 'starting' || status === undefined) {
    return { text: `$(sync~spin) ${MARK} codehearth: starting`, severity: 'normal' };
  }
  const name = status.model ?? 'codehearth';
  switch (status.state) {
    case 'error':
      return { text: `$(error) ${MARK} ${name}: error`, severity: 'error' };
    case 'downloading': {
      const pct = percentText(status.progress);
      return {
        text: `$(cloud-download) ${MARK} ${name} downloading${pct ? ` ${pct}` : '…'}`,
        severity: 'normal',
      };
    }
    case 'loading':
      return { text: `$(sync~spin) ${MARK} ${name} loading…`, severity: 'normal' };
    default: {
      // ready, busy, or a state this client does not know yet: show the model.
      const parts = [MARK, name];
      if (onGpu(status)) {
        parts.push(vramText(status.vram) ?? 'GPU');
      } else if (status.device === 'cpu') {
        parts.push('CPU');
      }
      if (status.tokensPerS !== undefined && status.tokensPerS > 0) {
        parts.push(`${Math.round(status.tokensPerS)} t/s`);
      }
      return { text: parts.join(' '), severity: 'normal' };
    }
  }
}

/** Escape text for a markdown table cell or paragraph (model names, error messages). */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/[\\`*_{}[\]()#+!|<>~]/g, (c) => `\\${c}`)
    .replace(/\r?\n/g, ' ');
}

function pct(fraction: number): string {
  return `${(fraction * 100).toFixed(fraction >= 0.995 || fraction < 0.1 ? 1 : 0)} %`;
}

function ms(v: number): string {
  return v >= 100 ? `${Math.round(v)} ms` : `${v.toFixed(1)} ms`;
}

type Rows = Array<[string, string]>;
type AddRow = (label: string, value: string | undefined) => void;

function modelText(status: ServerStatus): string | undefined {
  if (!status.model) {
    return undefined;
  }
  return status.quant ? `${status.model} (${status.quant})` : status.model;
}

function downloadText(p: DownloadProgress | undefined): string {
  const sizes =
    p?.doneBytes !== undefined && p.totalBytes !== undefined
      ? ` (${humanBytes(p.doneBytes)} of ${humanBytes(p.totalBytes)})`
      : '';
  return `${percentText(p) ?? '…'}${sizes}`;
}

function deviceText(status: ServerStatus): string | undefined {
  if (status.device === undefined) {
    return undefined;
  }
  let device = status.device.toUpperCase();
  if (onGpu(status) && status.vram?.gpuName) {
    device += ` — ${status.vram.gpuName}`;
    if (status.vram.gpuIndex !== undefined) {
      device += ` (#${status.vram.gpuIndex})`;
    }
  }
  return device;
}

function vramRows(v: VramInfo | undefined, add: AddRow): void {
  if (!v) {
    return;
  }
  add('VRAM (this server)', v.processBytes !== undefined ? humanBytes(v.processBytes) : undefined);
  if (v.gpuUsedBytes !== undefined || v.gpuTotalBytes !== undefined) {
    const used = v.gpuUsedBytes !== undefined ? humanBytes(v.gpuUsedBytes) : '?';
    const total = v.gpuTotalBytes !== undefined ? humanBytes(v.gpuTotalBytes) : '?';
    add('VRAM (whole GPU)', `${used} / ${total}`);
  }
  if (v.predictedBytes !== undefined) {
    const err =
      v.predictionError !== undefined
        ? ` (${v.predictionError >= 0 ? '+' : ''}${(v.predictionError * 100).toFixed(1)} %)`
        : '';
    add('VRAM predicted', `${humanBytes(v.predictedBytes)}${err}`);
  }
}

function requestsText(c: Counters): string | undefined {
  const bits = (
    [
      ['requests', c.requests],
      ['completed', c.completed],
      ['superseded', c.superseded],
      ['cancelled', c.cancelled],
      ['preempted', c.preempted],
      ['failed', c.failed],
    ] as Array<[string, number | undefined]>
  )
    .filter(([, n]) => n !== undefined)
    .map(([k, n]) => `${n} ${k}`);
  return bits.length ? bits.join(', ') : undefined;
}

function lastRequestText(l: LastRequest | undefined): string | undefined {
  if (!l) {
    return undefined;
  }
  const lb: string[] = [];
  if (l.promptTokens !== undefined) {
    lb.push(`prompt ${l.promptTokens} tok${l.reusedTokens !== undefined ? ` (${l.reusedTokens} reused)` : ''}`);
  }
  if (l.generatedTokens !== undefined) {
    lb.push(`${l.generatedTokens} generated`);
  }
  if (l.promptMs !== undefined) {
    lb.push(`prompt ${ms(l.promptMs)}`);
  }
  if (l.generateMs !== undefined) {
    lb.push(`generate ${ms(l.generateMs)}`);
  }
  if (l.totalMs !== undefined) {
    lb.push(`total ${ms(l.totalMs)}`);
  }
  if (l.stopReason) {
    lb.push(`stop: ${l.stopReason}`);
  }
  return lb.length ? lb.join(', ') : undefined;
}

/** Label / value rows of everything known, in display order (plain text, not escaped). */
export function statusRows(status: ServerStatus | undefined): Rows {
  if (!status) {
    return [['State', 'no status yet']];
  }
  const rows: Rows = [];
  const add: AddRow = (label, value) => {
    if (value !== undefined && value !== '') {
      rows.push([label, value]);
    }
  };
  add('State', status.state ?? 'unknown');
  add('Error', status.error);
  add('Model', modelText(status));
  if (status.state === 'downloading') {
    add('Download', downloadText(status.progress));
  }
  add('Device', deviceText(status));
  if (status.gpuLayers !== undefined) {
    add('GPU layers', status.totalLayers !== undefined ? `${status.gpuLayers} / ${status.totalLayers}` : `${status.gpuLayers}`);
  }
  vramRows(status.vram, add);
  add('Host memory', status.rssBytes !== undefined ? humanBytes(status.rssBytes) : undefined);
  add('Context', status.nCtx !== undefined ? `${status.nCtx} tokens` : undefined);
  if (status.state !== 'downloading' && status.state !== 'loading' && status.model !== undefined) {
    add('Fill-in-the-middle', status.fim ?? 'no (prefix only)');
  }
  add('Speed', status.tokensPerS !== undefined ? `${status.tokensPerS.toFixed(1)} tokens/s` : undefined);
  add('Last completion', status.lastLatencyMs !== undefined ? ms(status.lastLatencyMs) : undefined);
  add('Prompt reuse', status.promptReuse !== undefined ? pct(status.promptReuse) : undefined);
  add('Queue', status.queueDepth !== undefined ? `${status.queueDepth}` : undefined);
  if (status.counters) {
    add('Requests', requestsText(status.counters));
    add('Last request', lastRequestText(status.counters.last));
  }
  add('GPU plan', status.gpuPlan);
  for (const note of status.loadNotes ?? []) {
    add('Load note', note);
  }
  return rows;
}

/** The tooltip: the full status as a markdown table, then what a click does. */
export function statusTooltipMarkdown(
  status: ServerStatus | undefined,
  connection: ConnectionState = 'running',
): string {
  const lines: string[] = [`**${MARK} codehearth**`, ''];
  if (connection === 'failed') {
    lines.push('The server is not running. Check `codehearth.serverCommand`.', '');
  } else if (connection === 'stopped') {
    lines.push('The server is stopped.', '');
  } else if (connection === 'starting') {
    lines.push('Starting the server…', '');
  }
  if (connection === 'running' || status !== undefined) {
    lines.push('| | |', '|---|---|');
    for (const [label, value] of statusRows(status)) {
      lines.push(`| ${escapeMarkdown(label)} | ${escapeMarkdown(value)} |`);
    }
    lines.push('');
  }
  lines.push('_Click for details and to restart the server._');
  return lines.join('\n');
}
