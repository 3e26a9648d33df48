/**
 * Arguments of the server's assist commands (docs/protocol.md, "Explain, chat and
 * review") built from an editor selection, and their results read back.
 *
 * Pure: no `vscode` import. A VS Code `Position` / `Selection` already counts lines from
 * 0 and characters in UTF-16 code units, as LSP does, so they fit `PositionLike` /
 * `RangeLike` as they are.
 */

import type { Sampling } from './config';

export const SERVER_COMMANDS = {
  status: 'codehearth.status',
  explain: 'codehearth.explain',
  chat: 'codehearth.chat',
  chatReset: 'codehearth.chat.reset',
  cancel: 'codehearth.cancel',
  review: 'codehearth.review',
} as const;

export interface PositionLike {
  readonly line: number;
  readonly character: number;
}

export interface RangeLike {
  readonly start: PositionLike;
  readonly end: PositionLike;
}

export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

/** Length in UTF-16 code units of a line of the document (VS Code: `lineAt(n).text.length`). */
export type LineLength = (line: number) => number;

function pos(p: PositionLike): LspPosition {
  return { line: Math.max(0, Math.trunc(p.line)), character: Math.max(0, Math.trunc(p.character)) };
}

function before(a: PositionLike, b: PositionLike): boolean {
  return a.line < b.line || (a.line === b.line && a.character < b.character);
}

export function isEmptyRange(r: RangeLike): boolean {
  return r.start.line === r.end.line && r.start.character === r.end.character;
}

/**
 * A plain LSP range (JSON-ready, start before end) from a selection, whichever way it
 * was dragged. A multi-line selection that ends at column 0 of a line (a whole-line
 * selection made with the keyboard or by clicking line numbers) stops at the end of the
 * line before, so that line is not counted as selected.
 */
export function toLspRange(r: RangeLike, lineLength?: LineLength): LspRange {
  let start = pos(r.start);
  let end = pos(r.end);
  if (before(end, start)) {
    [start, end] = [end, start];
  }
  if (end.character === 0 && end.line > start.line && lineLength !== undefined) {
    const line = end.line - 1;
    end = { line, character: Math.max(0, lineLength(line)) };
  }
  return { start, end };
}

export interface ExplainArgs {
  uri: string;
  range: LspRange;
  streamId?: string;
  sampling?: Sampling;
}

/** `codehearth.explain`: an empty selection stands for the definition around the cursor. */
export function explainArgs(
  uri: string,
  selection: RangeLike,
  opts: { streamId?: string; sampling?: Sampling; lineLength?: LineLength } = {},
): ExplainArgs {
  const args: ExplainArgs = { uri, range: toLspRange(selection, opts.lineLength) };
  if (opts.streamId !== undefined) {
    args.streamId = opts.streamId;
  }
  if (opts.sampling !== undefined) {
    args.sampling = opts.sampling;
  }
  return args;
}

export interface Attachment {
  uri: string;
  /** Absent: the whole document. */
  range?: LspRange;
}

export interface ChatArgs {
  message: string;
  session?: string;
  uri?: string;
  range?: LspRange;
  streamId?: string;
  sampling?: Sampling;
}

/** The attachment for a chat from an editor: the selection, or the whole file when it is empty. */
export function attachmentFor(uri: string, selection: RangeLike | undefined, lineLength?: LineLength): Attachment {
  if (selection === undefined || isEmptyRange(selection)) {
    return { uri };
  }
  return { uri, range: toLspRange(selection, lineLength) };
}

/** `codehearth.chat`; absent fields are left out (the server rejects nulls for some). */
export function chatArgs(
  message: string,
  opts: { session?: string; attachment?: Attachment; streamId?: string; sampling?: Sampling } = {},
): ChatArgs {
  const args: ChatArgs = { message };
  if (opts.session !== undefined) {
    args.session = opts.session;
  }
  if (opts.attachment !== undefined) {
    args.uri = opts.attachment.uri;
    if (opts.attachment.range !== undefined) {
      args.range = opts.attachment.range;
    }
  }
  if (opts.streamId !== undefined) {
    args.streamId = opts.streamId;
  }
  if (opts.sampling !== undefined) {
    args.sampling = opts.sampling;
  }
  return args;
}

export interface ReviewArgs {
  uri: string;
  range?: LspRange;
  streamId?: string;
  sampling?: Sampling;
}

/** `codehearth.review`: the selected lines, or the whole document when nothing is selected. */
export function reviewArgs(
  uri: string,
  selection: RangeLike | undefined,
  opts: { streamId?: string; sampling?: Sampling; lineLength?: LineLength } = {},
): ReviewArgs {
  const args: ReviewArgs = { uri };
  if (selection !== undefined && !isEmptyRange(selection)) {
    args.range = toLspRange(selection, opts.lineLength);
  }
  if (opts.streamId !== undefined) {
    args.streamId = opts.streamId;
  }
  if (opts.sampling !== undefined) {
    args.sampling = opts.sampling;
  }
  return args;
}

/** `codehearth.cancel`: by stream id (any streamed request) and/or chat session. */
export function cancelArgs(opts: { streamId?: string; session?: string }): { streamId?: string; session?: string } {
  const args: { streamId?: string; session?: string } = {};
  if (opts.streamId !== undefined) {
    args.streamId = opts.streamId;
  }
  if (opts.session !== undefined) {
    args.session = opts.session;
  }
  if (args.streamId === undefined && args.session === undefined) {
    throw new Error('codehearth.cancel needs a streamId or a session');
  }
  return args;
}

let streamCounter = 0;

/** A fresh stream id, also used as the request's workDoneToken (≤ 128 characters). */
export function newStreamId(kind: string, now: number = Date.now()): string {
  streamCounter += 1;
  const rand = Math.floor(Math.random() * 0x100000000)
    .toString(16)
    .padStart(8, '0');
  return `vscode-${kind}-${now.toString(36)}-${streamCounter}-${rand}`.slice(0, 128);
}

/** 1-based, human line span of a range: "line 4" or "lines 4–9". */
export function lineSpan(range: LspRange | undefined): string {
  if (range === undefined) {
    return 'whole file';
  }
  const a = range.start.line + 1;
  const b = range.end.line + 1;
  return a === b ? `line ${a}` : `lines ${a}–${b}`;
}

// ---- results -------------------------------------------------------------

type Json = Record<string, unknown>;

function obj(v: unknown): Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function bool(v: unknown): boolean {
  return v === true;
}

export interface ExplainResult {
  markdown: string;
  stopReason?: string;
  cancelled: boolean;
}

export function parseExplainResult(raw: unknown): ExplainResult {
  const r = obj(raw);
  return {
    markdown: str(r.markdown) ?? '',
    stopReason: str(r.stopReason ?? r.stop_reason),
    cancelled: bool(r.cancelled),
  };
}

export interface ChatResult {
  session?: string;
  reply: string;
  stopReason?: string;
  cancelled: boolean;
}

export function parseChatResult(raw: unknown): ChatResult {
  const r = obj(raw);
  return {
    session: str(r.session),
    reply: str(r.reply) ?? '',
    stopReason: str(r.stopReason ?? r.stop_reason),
    cancelled: bool(r.cancelled),
  };
}

/** The line shown under a reply that did not end by itself. */
export function replyNote(result: { cancelled?: boolean; stopReason?: string }): string {
  if (result.cancelled) return '\n\n*(stopped)*';
  return result.stopReason === 'length' ? '\n\n*(cut at the token limit)*' : '';
}

export interface Finding {
  line?: number;
  endLine?: number;
  severity?: string;
  message: string;
  hasFix: boolean;
}

export interface ReviewResult {
  findings: Finding[];
  dropped: number;
  truncated: boolean;
  stopReason?: string;
  cancelled: boolean;
}

export function parseReviewResult(raw: unknown): ReviewResult {
  const r = obj(raw);
  const findings = Array.isArray(r.findings) ? r.findings : [];
  return {
    findings: findings.map((f) => {
      const o = obj(f);
      return {
        line: typeof o.line === 'number' ? o.line : undefined,
        endLine: typeof o.end_line === 'number' ? o.end_line : typeof o.endLine === 'number' ? o.endLine : undefined,
        severity: str(o.severity),
        message: str(o.message) ?? '',
        hasFix: typeof o.replacement === 'string',
      };
    }),
    dropped: typeof r.dropped === 'number' ? r.dropped : 0,
    truncated: bool(r.truncated),
    stopReason: str(r.stopReason ?? r.stop_reason),
    cancelled: bool(r.cancelled),
  };
}

/** One line for a notification: "3 findings (1 with a fix) in app.py, lines 4–9". */
export function reviewSummary(result: ReviewResult, fileName: string, range?: LspRange): string {
  const n = result.findings.length;
  const where = range === undefined ? fileName : `${fileName}, ${lineSpan(range)}`;
  let text = n === 0 ? `No findings in ${where}` : `${n} finding${n === 1 ? '' : 's'}`;
  if (n > 0) {
    const fixes = result.findings.filter((f) => f.hasFix).length;
    if (fixes > 0) {
      text += ` (${fixes} with a fix)`;
    }
    text += ` in ${where}`;
  }
  const notes: string[] = [];
  if (result.cancelled) {
    notes.push('cancelled');
  }
  if (result.truncated) {
    notes.push('the file was cut to fit the context window');
  }
  if (result.dropped > 0) {
    notes.push(`${result.dropped} invalid finding${result.dropped === 1 ? '' : 's'} dropped`);
  }
  if (notes.length > 0) {
    text += ` — ${notes.join('; ')}`;
  }
  return `${text}.`;
}

/** A JSON-RPC error from the server, as a sentence for the user (no code in it). */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    return err.message;
  }
  const o = obj(err);
  const m = str(o.message);
  return m ?? String(err);
}
