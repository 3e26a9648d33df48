/**
 * Streamed replies: `$/progress` on the request's workDoneToken (begin / report with the
 * next chunk in `message` / end) or, from a server that got no token, `codehearth/stream`
 * notifications ({id, delta, done, stopReason}). Both are folded into one text here.
 *
 * Pure: no `vscode` import.
 */

export interface StreamState {
  text: string;
  title?: string;
  /** Set once the stream has ended: "done", "cancelled", "failed", or a stop reason. */
  ended?: string;
}

type Json = Record<string, unknown>;

function obj(v: unknown): Json | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

/** Folds one `$/progress` value (WorkDoneProgressBegin / Report / End) into the state. */
export function applyProgress(state: StreamState, value: unknown): StreamState {
  const v = obj(value);
  if (!v || state.ended !== undefined) {
    return state;
  }
  switch (v.kind) {
    case 'begin':
      return { ...state, title: typeof v.title === 'string' ? v.title : state.title };
    case 'report':
      // `message` is the next chunk (a delta), not the text so far.
      return typeof v.message === 'string' && v.message.length > 0
        ? { ...state, text: state.text + v.message }
        : state;
    case 'end':
      return { ...state, ended: typeof v.message === 'string' ? v.message : 'done' };
    default:
      return state;
  }
}

export interface StreamNotification {
  id: string;
  command?: string;
  session?: string;
  delta?: string;
  done: boolean;
  stopReason?: string;
}

/** A `codehearth/stream` notification's params, or undefined when they are not one. */
export function parseStreamNotification(raw: unknown): StreamNotification | undefined {
  const v = obj(raw);
  if (!v || (typeof v.id !== 'string' && typeof v.id !== 'number')) {
    return undefined;
  }
  return {
    id: String(v.id),
    command: typeof v.command === 'string' ? v.command : undefined,
    session: typeof v.session === 'string' ? v.session : undefined,
    delta: typeof v.delta === 'string' ? v.delta : undefined,
    done: v.done === true,
    stopReason: typeof v.stopReason === 'string' ? v.stopReason : undefined,
  };
}

/** Folds one `codehearth/stream` notification into the state. */
export function applyStreamNotification(state: StreamState, n: StreamNotification): StreamState {
  if (state.ended !== undefined) {
    return state;
  }
  let next = state;
  if (n.delta) {
    next = { ...next, text: next.text + n.delta };
  }
  if (n.done) {
    next = { ...next, ended: n.stopReason ?? 'done' };
  }
  return next;
}

/**
 * Routes stream messages to the request they belong to (keyed by stream id, which this
 * extension also uses as the workDoneToken), calling `onUpdate` with the text so far.
 */
export class StreamRouter {
  private readonly streams = new Map<string, { state: StreamState; onUpdate: (s: StreamState) => void }>();

  open(id: string, onUpdate: (s: StreamState) => void): void {
    this.streams.set(id, { state: { text: '' }, onUpdate });
  }

  close(id: string): StreamState | undefined {
    const entry = this.streams.get(id);
    this.streams.delete(id);
    return entry?.state;
  }

  has(id: string): boolean {
    return this.streams.has(id);
  }

  progress(id: string, value: unknown): void {
    this.update(id, (s) => applyProgress(s, value));
  }

  notification(raw: unknown): void {
    const n = parseStreamNotification(raw);
    if (n) {
      this.update(n.id, (s) => applyStreamNotification(s, n));
    }
  }

  private update(id: string, f: (s: StreamState) => StreamState): void {
    const entry = this.streams.get(id);
    if (!entry) {
      return;
    }
    const next = f(entry.state);
    if (next !== entry.state) {
      entry.state = next;
      entry.onUpdate(next);
    }
  }
}
