/**
 * The server's status object (docs/protocol.md, "Status") and how it is shown:
 * status-bar text, tooltip markdown and the rows of the status details picker.
 *
 * Pure: no `vscode` import. Every field of the status object may be missing or
 * null, and values of the wrong type are dropped rather than trusted.
 */

export type ServerState = 'loading' | 'downloading' | 'ready' | 'busy' | 'error';

export interface VramInfo {
  gpuIndex?: number;
  gpuName?: string;
  processBytes?: number;
  gpuUsedBytes?: number;
  gpuTotalBytes?: number;
  predictedBytes?: number;
  predictionError?: number;
}

export interface DownloadProgress {
  percent?: number;
  doneBytes?: number;
  totalBytes?: number;
}

export interface LastRequest {
  promptTokens?: number;
  reusedTokens?: number;
  evaluatedTokens?: number;
  generatedTokens?: number;
  queueMs?: number;
  promptMs?: number;
  generateMs?: number;
  totalMs?: number;
  stopReason?: string;
}

export interface Counters {
  requests?: number;
  completed?: number;
  cancelled?: number;
  superseded?: number;
  preempted?: number;
  failed?: number;
  promptTokens?: number;
  reusedTokens?: number;
  evaluatedTokens?: number;
  generatedTokens?: number;
  maxQueueDepth?: number;
  last?: LastRequest;
}

/** The status object, normalised: absent or ill-typed fields are undefined. */
export interface ServerStatus {
  state?: string;
  model?: string;
  quant?: string;
  device?: string;
  progress?: DownloadProgress;
  error?: string;
  gpuLayers?: number;
  totalLayers?: number;
  vram?: VramInfo;
  rssBytes?: number;
  lastLatencyMs?: number;
  tokensPerS?: number;
  promptReuse?: number;
  nCtx?: number;
  fim?: string;
  gpuPlan?: string;
  loadNotes?: string[];
  queueDepth?: number;
  counters?: Counters;
}

/** Where the client itself is: the server's status only means something while running. */
export type ConnectionState = 'starting' | 'running' | 'stopped' | 'failed';

type Json = Record<string, unknown>;

function obj(v: unknown): Json | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** First present value among snake_case / camelCase spellings. */
function pick(o: Json, ...keys: string[]): unknown {
  for (const k of keys) {
    if (o[k] !== undefined && o[k] !== null) {
      return o[k];
    }
  }
  return undefined;
}

function parseVram(raw: unknown): VramInfo | undefined {
  const v = obj(raw);
  if (!v) {
    return undefined;
  }
  return {
    gpuIndex: num(pick(v, 'gpu_index', 'gpuIndex')),
    gpuName: str(pick(v, 'gpu_name', 'gpuName')),
    // `measured_bytes` is what earlier servers called the process reading.
    processBytes: num(pick(v, 'process_bytes', 'processBytes', 'measured_bytes')),
    gpuUsedBytes: num(pick(v, 'gpu_used_bytes', 'gpuUsedBytes')),
    gpuTotalBytes: num(pick(v, 'gpu_total_bytes', 'gpuTotalBytes')),
    predictedBytes: num(pick(v, 'predicted_bytes', 'predictedBytes')),
    predictionError: num(pick(v, 'prediction_error', 'predictionError')),
  };
}

function parseLast(raw: unknown): LastRequest | undefined {
  const l = obj(raw);
  if (!l) {
    return undefined;
  }
  return {
    promptTokens: num(pick(l, 'prompt_tokens', 'promptTokens')),
    reusedTokens: num(pick(l, 'reused_tokens', 'reusedTokens')),
    evaluatedTokens: num(pick(l, 'evaluated_tokens', 'evaluatedTokens')),
    generatedTokens: num(pick(l, 'generated_tokens', 'generatedTokens')),
    queueMs: num(pick(l, 'queue_ms', 'queueMs')),
    promptMs: num(pick(l, 'prompt_ms', 'promptMs')),
    generateMs: num(pick(l, 'generate_ms', 'generateMs')),
    totalMs: num(pick(l, 'total_ms', 'totalMs')),
    stopReason: str(pick(l, 'stop_reason', 'stopReason')),
  };
}

function parseCounters(raw: unknown): Counters | undefined {
  const c = obj(raw);
  if (!c) {
    return undefined;
  }
  return {
    requests: num(c.requests),
    completed: num(c.completed),
    cancelled: num(c.cancelled),
    superseded: num(c.superseded),
    preempted: num(c.preempted),
    failed: num(c.failed),
    promptTokens: num(pick(c, 'prompt_tokens', 'promptTokens')),
    reusedTokens: num(pick(c, 'reused_tokens', 'reusedTokens')),
    evaluatedTokens: num(pick(c, 'evaluated_tokens', 'evaluatedTokens')),
    generatedTokens: num(pick(c, 'generated_tokens', 'generatedTokens')),
    maxQueueDepth: num(pick(c, 'max_queue_depth', 'maxQueueDepth')),
    last: parseLast(c.last),
  };
}

/** The status object as the server sent it (notification params or command result). */
export function parseStatus(raw: unknown): ServerStatus | undefined {
  const s = obj(raw);
  if (!s) {
    return undefined;
  }
  const progress = obj(s.progress);
  const notes = Array.isArray(s.load_notes ?? s.loadNotes)
    ? ((s.load_notes ?? s.loadNotes) as unknown[]).filter((n): n is string => typeof n === 'string')
    : undefined;
  const vram = parseVram(s.vram);
  let device = str(s.device)?.toLowerCase();
  if (device === undefined && s.vram !== undefined) {
    // Earlier servers had no `device`; a vram object means the GPU, null the CPU.
    device = vram ? 'gpu' : 'cpu';
  }
  return {
    state: str(s.state)?.toLowerCase(),
    model: str(s.model),
    quant: str(s.quant),
    device,
    progress: progress
      ? {
          percent: num(progress.percent),
          doneBytes: num(pick(progress, 'done_bytes', 'doneBytes')),
          totalBytes: num(pick(progress, 'total_bytes', 'totalBytes')),
        }
      : undefined,
    error: str(s.error),
    gpuLayers: num(pick(s, 'gpu_layers', 'gpuLayers', 'loaded_gpu_layers')),
    totalLayers: num(pick(s, 'total_layers', 'totalLayers')),
    vram,
    rssBytes: num(pick(s, 'rss_bytes', 'rssBytes')),
    lastLatencyMs: num(pick(s, 'last_latency_ms', 'lastLatencyMs')),
    tokensPerS: num(pick(s, 'tokens_per_s', 'tokensPerS')),
    promptReuse: num(pick(s, 'prompt_reuse', 'promptReuse')),
    nCtx: num(pick(s, 'n_ctx', 'nCtx')),
    fim: str(s.fim),
    gpuPlan: str(pick(s, 'gpu_plan', 'gpuPlan')),
    loadNotes: notes,
    queueDepth: num(pick(s, 'queue_depth', 'queueDepth')),
    counters: parseCounters(s.counters),
  };
}

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

/** Label / value rows of everything known, in display order (plain text, not escaped). */
export function statusRows(status: ServerStatus | undefined): Array<[string, string]> {
  if (!status) {
    return [['State', 'no status yet']];
  }
  const rows: Array<[string, string]> = [];
  const add = (label: string, value: string | undefined): void => {
    if (value !== undefined && value !== '') {
      rows.push([label, value]);
    }
  };
  add('State', status.state ?? 'unknown');
  add('Error', status.error);
  add('Model', status.model ? (status.quant ? `${status.model} (${status.quant})` : status.model) : undefined);
  if (status.state === 'downloading') {
    const p = status.progress;
    const sizes =
      p?.doneBytes !== undefined && p.totalBytes !== undefined
        ? ` (${humanBytes(p.doneBytes)} of ${humanBytes(p.totalBytes)})`
        : '';
    add('Download', `${percentText(p) ?? '…'}${sizes}`);
  }
  if (status.device !== undefined) {
    let device = status.device.toUpperCase();
    if (onGpu(status) && status.vram?.gpuName) {
      device += ` — ${status.vram.gpuName}`;
      if (status.vram.gpuIndex !== undefined) {
        device += ` (#${status.vram.gpuIndex})`;
      }
    }
    add('Device', device);
  }
  if (status.gpuLayers !== undefined) {
    add('GPU layers', status.totalLayers !== undefined ? `${status.gpuLayers} / ${status.totalLayers}` : `${status.gpuLayers}`);
  }
  const v = status.vram;
  if (v) {
    add('VRAM (this server)', v.processBytes !== undefined ? humanBytes(v.processBytes) : undefined);
    if (v.gpuUsedBytes !== undefined || v.gpuTotalBytes !== undefined) {
      add(
        'VRAM (whole GPU)',
        `${v.gpuUsedBytes !== undefined ? humanBytes(v.gpuUsedBytes) : '?'} / ${
          v.gpuTotalBytes !== undefined ? humanBytes(v.gpuTotalBytes) : '?'
        }`,
      );
    }
    if (v.predictedBytes !== undefined) {
      const err =
        v.predictionError !== undefined
          ? ` (${v.predictionError >= 0 ? '+' : ''}${(v.predictionError * 100).toFixed(1)} %)`
          : '';
      add('VRAM predicted', `${humanBytes(v.predictedBytes)}${err}`);
    }
  }
  add('Host memory', status.rssBytes !== undefined ? humanBytes(status.rssBytes) : undefined);
  add('Context', status.nCtx !== undefined ? `${status.nCtx} tokens` : undefined);
  if (status.state !== 'downloading' && status.state !== 'loading' && status.model !== undefined) {
    add('Fill-in-the-middle', status.fim ?? 'no (prefix only)');
  }
  add('Speed', status.tokensPerS !== undefined ? `${status.tokensPerS.toFixed(1)} tokens/s` : undefined);
  add('Last completion', status.lastLatencyMs !== undefined ? ms(status.lastLatencyMs) : undefined);
  add('Prompt reuse', status.promptReuse !== undefined ? pct(status.promptReuse) : undefined);
  add('Queue', status.queueDepth !== undefined ? `${status.queueDepth}` : undefined);
  const c = status.counters;
  if (c) {
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
    add('Requests', bits.length ? bits.join(', ') : undefined);
    const l = c.last;
    if (l) {
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
      add('Last request', lb.length ? lb.join(', ') : undefined);
    }
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
