/**
 * The speed the status item shows (tokens/s), smoothed so that one short answer cannot
 * swing it.
 *
 * The server reports each generation in `counters.last` (tokens and generate time) and a
 * rate of its own (`tokens_per_s`, decayed per generation). Typing produces many answers
 * of one to three tokens whose time is mostly fixed overhead (the first token comes with
 * the prompt), so their rate reads anything from a third to ten times the real one; shown
 * as they come, the item jumped between 32 and 109 t/s. Here answers shorter than
 * MIN_SAMPLE_TOKENS are not samples at all, and the rate is tokens / time over the most
 * recent WINDOW_TOKENS tokens, each answer counting at most MAX_SAMPLE_TOKENS, so one long
 * answer does not take the window alone either. Until enough tokens are seen, the
 * server's own rate is shown.
 *
 * Pure: no `vscode` import.
 */

import type { ServerStatus } from './status';

/** Answers shorter than this say more about per-request overhead than about speed. */
export const MIN_SAMPLE_TOKENS = 4;
/** The rate is taken over (at least) this many recent tokens. */
export const WINDOW_TOKENS = 256;
/** The most one answer counts for, in tokens, whatever its length. */
export const MAX_SAMPLE_TOKENS = 64;
/** Below this many sampled tokens the server's own rate is shown instead. */
export const MIN_WINDOW_TOKENS = 16;

interface Sample {
  tokens: number;
  ms: number;
}

export class SpeedMeter {
  private samples: Sample[] = [];
  private lastKey: string | undefined;
  private model: string | undefined;

  /** The status with `tokensPerS` replaced by the smoothed rate (when there is one). */
  smooth(status: ServerStatus): ServerStatus {
    this.observe(status);
    const rate = this.rate();
    return rate === undefined ? status : { ...status, tokensPerS: rate };
  }

  /** Takes the status's last generation as a sample, once (pushes and polls repeat it). */
  observe(status: ServerStatus): void {
    if (status.model !== this.model) {
      // Another model runs at another speed: start over.
      this.reset();
      this.model = status.model;
    }
    const c = status.counters;
    const last = c?.last;
    if (!c || !last) {
      return;
    }
    const key = [c.requests, c.completed, c.generatedTokens, last.generatedTokens, last.generateMs, last.totalMs].join('|');
    if (key === this.lastKey) {
      return;
    }
    this.lastKey = key;
    this.add(last.generatedTokens, last.generateMs);
  }

  /** One generation: `tokens` generated in `ms` milliseconds. */
  add(tokens: number | undefined, ms: number | undefined): void {
    if (tokens === undefined || ms === undefined || !(tokens >= MIN_SAMPLE_TOKENS) || !(ms > 0)) {
      return;
    }
    // A long answer counts as MAX_SAMPLE_TOKENS tokens at its own rate.
    const weight = Math.min(tokens, MAX_SAMPLE_TOKENS);
    this.samples.push({ tokens: weight, ms: (ms * weight) / tokens });
    let total = this.samples.reduce((sum, s) => sum + s.tokens, 0);
    while (this.samples.length > 1 && total - this.samples[0].tokens >= WINDOW_TOKENS) {
      total -= this.samples[0].tokens;
      this.samples.shift();
    }
  }

  /** Tokens per second over the window; undefined until MIN_WINDOW_TOKENS are sampled. */
  rate(): number | undefined {
    const tokens = this.samples.reduce((sum, s) => sum + s.tokens, 0);
    const ms = this.samples.reduce((sum, s) => sum + s.ms, 0);
    if (tokens < MIN_WINDOW_TOKENS || ms <= 0) {
      return undefined;
    }
    return tokens / (ms / 1000);
  }

  reset(): void {
    this.samples = [];
    this.lastKey = undefined;
    this.model = undefined;
  }
}
