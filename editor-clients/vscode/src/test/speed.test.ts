import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_SAMPLE_TOKENS, MIN_SAMPLE_TOKENS, MIN_WINDOW_TOKENS, SpeedMeter, WINDOW_TOKENS } from '../speed';
import { parseStatus, ServerStatus } from '../status';
import { statusBarView } from '../statusView';

/** A status after one more generation: `tokens` in `ms`, the server's own rate `serverRate`. */
function statusAfter(n: number, tokens: number, ms: number, serverRate: number | null = null): ServerStatus {
  const s = parseStatus({
    state: 'ready',
    model: 'smollm2-135m',
    device: 'cpu',
    tokens_per_s: serverRate,
    counters: {
      requests: n,
      completed: n,
      generated_tokens: 16 * n + tokens,
      last: { generated_tokens: tokens, generate_ms: ms, total_ms: ms + 20 },
    },
  });
  assert.ok(s);
  return s;
}

/** A meter that has seen `count` ordinary 16-token answers at 100 t/s. */
function steadyMeter(count = 20): { meter: SpeedMeter; n: number } {
  const meter = new SpeedMeter();
  for (let n = 1; n <= count; n++) {
    meter.smooth(statusAfter(n, 16, 160));
  }
  return { meter, n: count };
}

describe('smoothed speed', () => {
  it('steady answers read their rate', () => {
    const { meter } = steadyMeter();
    assert.equal(Math.round(meter.rate() ?? 0), 100);
  });

  it('a one-token answer cannot move it, however fast it reads', () => {
    const { meter, n } = steadyMeter();
    const before = meter.rate();
    // One token "in" 0.3 ms would read 3333 t/s; shown as it came it would be the item's text.
    const s = meter.smooth(statusAfter(n + 1, 1, 0.3, 3333));
    assert.equal(meter.rate(), before);
    assert.equal(statusBarView(s).text, '⬢ smollm2-135m CPU 100 t/s');
  });

  it('a run of short answers does not move it either', () => {
    const { meter, n } = steadyMeter();
    for (let k = 1; k <= 50; k++) {
      meter.smooth(statusAfter(n + k, 1 + (k % (MIN_SAMPLE_TOKENS - 1)), 0.5 + k));
    }
    assert.equal(Math.round(meter.rate() ?? 0), 100);
  });

  it('the smallest answer that counts moves it by a few percent at most', () => {
    const { meter, n } = steadyMeter();
    const before = meter.rate() ?? 0;
    meter.smooth(statusAfter(n + 1, MIN_SAMPLE_TOKENS, 1));
    const after = meter.rate() ?? 0;
    assert.ok(after > before, 'a real sample counts');
    assert.ok(after / before < 1.05, `moved from ${before} to ${after}`);
  });

  it('one long slow answer does not take the window alone', () => {
    const { meter, n } = steadyMeter();
    // 400 tokens at 32 t/s (a chat reply): counted as MAX_SAMPLE_TOKENS of the window.
    meter.smooth(statusAfter(n + 1, 400, 12500));
    const rate = meter.rate() ?? 0;
    assert.ok(MAX_SAMPLE_TOKENS < WINDOW_TOKENS);
    assert.ok(rate > 60 && rate < 100, `read ${rate}`);
  });

  it('alternating short fast and ordinary answers keep the text steady', () => {
    const meter = new SpeedMeter();
    const texts = new Set<string>();
    for (let n = 1; n <= 60; n++) {
      const s = n % 2 === 0 ? statusAfter(n, 2, 1, null) : statusAfter(n, 16, 160 + (n % 3) * 5, null);
      const text = statusBarView(meter.smooth(s)).text;
      if (n > 10) {
        texts.add(text);
      }
    }
    const rates = [...texts].map((t) => Number(/(\d+) t\/s/.exec(t)?.[1]));
    assert.ok(Math.max(...rates) - Math.min(...rates) <= 3, `texts: ${[...texts].join(' | ')}`);
  });

  it('the same generation seen twice (push and poll) is one sample', () => {
    const meter = new SpeedMeter();
    const s = statusAfter(1, 16, 160);
    meter.smooth(s);
    meter.smooth(s);
    meter.smooth(statusAfter(2, 16, 320));
    // Counted twice, the first would pull the rate to (16+16+16)/(0.64 s) = 75.
    assert.equal(Math.round(meter.rate() ?? 0), 67);
  });

  it("shows the server's rate until it has enough tokens, and resets for another model", () => {
    const meter = new SpeedMeter();
    assert.equal(meter.smooth(statusAfter(1, 8, 80, 151.2)).tokensPerS, 151.2);
    assert.ok(8 < MIN_WINDOW_TOKENS);
    assert.equal(Math.round(meter.smooth(statusAfter(2, 8, 80, 151.2)).tokensPerS ?? 0), 100);
    const other = { ...statusAfter(3, 8, 40, 90), model: 'qwen2.5-coder-1.5b' };
    assert.equal(meter.smooth(other).tokensPerS, 90);
    meter.reset();
    assert.equal(meter.rate(), undefined);
  });

  it('ignores samples without a time or a token count', () => {
    const meter = new SpeedMeter();
    meter.add(undefined, 100);
    meter.add(32, undefined);
    meter.add(32, 0);
    meter.add(Number.NaN, 10);
    assert.equal(meter.rate(), undefined);
    const bare = parseStatus({ state: 'ready', model: 'm', tokens_per_s: 42 });
    assert.ok(bare);
    assert.equal(meter.smooth(bare).tokensPerS, 42);
  });
});
