/**
 * The server's status object (docs/protocol.md, "Status"), read into a typed, normalised
 * form. How it is shown lives in statusView.ts; the smoothed speed in speed.ts.
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
