import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseStatus } from '../status';
import { escapeMarkdown, gib, humanBytes, statusBarView, statusRows, statusTooltipMarkdown, vramText } from '../statusView';

const GiB = 1024 ** 3;

/** The example of docs/protocol.md, on the GPU. */
function gpuStatus(): Record<string, unknown> {
  return {
    state: 'ready',
    model: 'qwen2.5-coder-1.5b',
    quant: 'Q4_K_M',
    device: 'gpu',
    progress: null,
    error: null,
    gpu_layers: 29,
    total_layers: 29,
    vram: {
      gpu_index: 0,
      gpu_name: 'NVIDIA H100 80GB HBM3',
      process_bytes: 5476083712,
      gpu_used_bytes: 9126805504,
      gpu_total_bytes: 80 * GiB,
      predicted_bytes: 5368709120,
      prediction_error: 0.02,
    },
    rss_bytes: 402653184,
    last_latency_ms: 67.6,
    tokens_per_s: 212.4,
    prompt_reuse: 0.97,
    n_ctx: 8192,
    fim: 'qwen',
    gpu_plan: 'qwen2.5-coder-1.5b: all 29 layers on GPU 0',
    load_notes: [],
    queue_depth: 0,
    counters: {
      requests: 120,
      completed: 80,
      cancelled: 3,
      superseded: 37,
      preempted: 0,
      failed: 0,
      prompt_tokens: 91000,
      reused_tokens: 88300,
      evaluated_tokens: 2700,
      generated_tokens: 900,
      max_queue_depth: 2,
      last: {
        prompt_tokens: 1130,
        reused_tokens: 1127,
        evaluated_tokens: 3,
        generated_tokens: 7,
        queue_ms: 0.2,
        prompt_ms: 19.5,
        generate_ms: 48.1,
        total_ms: 67.6,
        stop_reason: 'newline',
      },
    },
  };
}

function cpuStatus(): Record<string, unknown> {
  return {
    state: 'ready',
    model: 'smollm2-135m',
    quant: 'Q4_1',
    device: 'cpu',
    progress: null,
    error: null,
    gpu_layers: 0,
    total_layers: 30,
    vram: null,
    rss_bytes: 402653184,
    last_latency_ms: null,
    tokens_per_s: null,
    prompt_reuse: null,
    n_ctx: 8192,
    fim: null,
    gpu_plan: 'smollm2-135m: CPU (this llama.cpp build has no GPU offload)',
    load_notes: [],
    queue_depth: 0,
  };
}

describe('status bar text', () => {
  it('GPU: model, process VRAM / GPU total, tokens per second', () => {
    const view = statusBarView(parseStatus(gpuStatus()));
    assert.equal(view.text, '⬢ qwen2.5-coder-1.5b 5.1/80.0 GiB 212 t/s');
    assert.equal(view.severity, 'normal');
  });

  it('busy looks like ready (no flicker while typing)', () => {
    const s = { ...gpuStatus(), state: 'busy' };
    assert.equal(statusBarView(parseStatus(s)).text, '⬢ qwen2.5-coder-1.5b 5.1/80.0 GiB 212 t/s');
  });

  it('CPU without a speed yet', () => {
    assert.equal(statusBarView(parseStatus(cpuStatus())).text, '⬢ smollm2-135m CPU');
  });

  it('CPU with a speed', () => {
    const s = { ...cpuStatus(), tokens_per_s: 151.2 };
    assert.equal(statusBarView(parseStatus(s)).text, '⬢ smollm2-135m CPU 151 t/s');
  });

  it('GPU whose process VRAM is unknown shows what is known', () => {
    const s = gpuStatus();
    (s.vram as Record<string, unknown>).process_bytes = null;
    assert.equal(statusBarView(parseStatus(s)).text, '⬢ qwen2.5-coder-1.5b ?/80.0 GiB 212 t/s');
    s.vram = { gpu_index: 0 };
    assert.equal(statusBarView(parseStatus(s)).text, '⬢ qwen2.5-coder-1.5b GPU 212 t/s');
  });

  it('loading', () => {
    const view = statusBarView(parseStatus({ state: 'loading', model: 'qwen2.5-coder-7b' }));
    assert.equal(view.text, '$(sync~spin) ⬢ qwen2.5-coder-7b loading…');
    assert.equal(view.severity, 'normal');
  });

  it('downloading with a percentage (floored, clamped)', () => {
    const s = { state: 'downloading', model: 'qwen2.5-coder-7b', progress: { percent: 42.7, done_bytes: 1, total_bytes: 2 } };
    assert.equal(statusBarView(parseStatus(s)).text, '$(cloud-download) ⬢ qwen2.5-coder-7b downloading 42%');
    const over = { state: 'downloading', model: 'm', progress: { percent: 100.4 } };
    assert.equal(statusBarView(parseStatus(over)).text, '$(cloud-download) ⬢ m downloading 100%');
  });

  it('downloading with bytes only computes the percentage', () => {
    const s = { state: 'downloading', model: 'm', progress: { percent: null, done_bytes: 250, total_bytes: 1000 } };
    assert.equal(statusBarView(parseStatus(s)).text, '$(cloud-download) ⬢ m downloading 25%');
  });

  it('downloading before any progress', () => {
    assert.equal(
      statusBarView(parseStatus({ state: 'downloading', model: 'm', progress: null })).text,
      '$(cloud-download) ⬢ m downloading…',
    );
  });

  it('error', () => {
    const view = statusBarView(parseStatus({ state: 'error', model: 'qwen2.5-coder-7b', error: 'model file missing' }));
    assert.equal(view.text, '$(error) ⬢ qwen2.5-coder-7b: error');
    assert.equal(view.severity, 'error');
  });

  it('missing fields: empty object, no model, unknown state', () => {
    assert.equal(statusBarView(parseStatus({})).text, '⬢ codehearth');
    assert.equal(statusBarView(parseStatus({ state: 'loading' })).text, '$(sync~spin) ⬢ codehearth loading…');
    assert.equal(statusBarView(parseStatus({ state: 'warming', model: 'm' })).text, '⬢ m');
  });

  it('client connection states win over the last status', () => {
    const s = parseStatus(gpuStatus());
    assert.equal(statusBarView(undefined, 'starting').text, '$(sync~spin) ⬢ codehearth: starting');
    assert.equal(statusBarView(s, 'starting').text, '$(sync~spin) ⬢ codehearth: starting');
    assert.equal(statusBarView(s, 'failed').severity, 'error');
    assert.equal(statusBarView(s, 'stopped').text, '⬢ codehearth: stopped');
    assert.equal(statusBarView(undefined, 'running').text, '$(sync~spin) ⬢ codehearth: starting');
  });
});

describe('parseStatus', () => {
  it('is undefined for non-objects', () => {
    for (const raw of [null, undefined, 3, 'ready', [], true]) {
      assert.equal(parseStatus(raw), undefined);
    }
  });

  it('drops values of the wrong type instead of trusting them', () => {
    const s = parseStatus({
      state: 42,
      model: ['x'],
      device: 'GPU',
      vram: { process_bytes: '5', gpu_total_bytes: Number.NaN },
      tokens_per_s: '212',
      load_notes: ['a', 3, null, 'b'],
      counters: 'lots',
    });
    assert.ok(s);
    assert.equal(s.state, undefined);
    assert.equal(s.model, undefined);
    assert.equal(s.device, 'gpu');
    assert.deepEqual(s.vram && [s.vram.processBytes, s.vram.gpuTotalBytes], [undefined, undefined]);
    assert.equal(s.tokensPerS, undefined);
    assert.deepEqual(s.loadNotes, ['a', 'b']);
    assert.equal(s.counters, undefined);
  });

  it('reads every documented field', () => {
    const s = parseStatus(gpuStatus());
    assert.ok(s);
    assert.equal(s.quant, 'Q4_K_M');
    assert.equal(s.gpuLayers, 29);
    assert.equal(s.totalLayers, 29);
    assert.equal(s.vram?.gpuName, 'NVIDIA H100 80GB HBM3');
    assert.equal(s.vram?.predictionError, 0.02);
    assert.equal(s.counters?.last?.stopReason, 'newline');
    assert.equal(s.counters?.maxQueueDepth, 2);
    assert.equal(s.promptReuse, 0.97);
  });

  it('understands the earlier server payload (no device, measured_bytes, loaded_gpu_layers)', () => {
    const gpu = parseStatus({
      state: 'ready',
      model: 'm',
      loaded_gpu_layers: 12,
      vram: { measured_bytes: 2 * GiB, predicted_bytes: 2 * GiB, prediction_error: 0, gpu_index: 0 },
    });
    assert.equal(gpu?.device, 'gpu');
    assert.equal(gpu?.gpuLayers, 12);
    assert.equal(statusBarView(gpu).text, '⬢ m 2.0 GiB');
    const cpu = parseStatus({ state: 'ready', model: 'm', vram: null });
    assert.equal(cpu?.device, 'cpu');
    assert.equal(statusBarView(cpu).text, '⬢ m CPU');
    // No vram key at all: the device is unknown, not guessed.
    assert.equal(statusBarView(parseStatus({ state: 'ready', model: 'm' })).text, '⬢ m');
  });
});

describe('tooltip and details', () => {
  it('the GPU tooltip is a markdown table of everything known', () => {
    const md = statusTooltipMarkdown(parseStatus(gpuStatus()));
    assert.match(md, /^\*\*⬢ codehearth\*\*/);
    for (const row of [
      '| State | ready |',
      '| Model | qwen2.5-coder-1.5b \\(Q4\\_K\\_M\\) |',
      '| Device | GPU — NVIDIA H100 80GB HBM3 \\(\\#0\\) |',
      '| GPU layers | 29 / 29 |',
      '| VRAM \\(this server\\) | 5.1 GiB |',
      '| VRAM \\(whole GPU\\) | 8.5 GiB / 80.0 GiB |',
      '| VRAM predicted | 5.0 GiB \\(\\+2.0 %\\) |',
      '| Speed | 212.4 tokens/s |',
      '| Last completion | 67.6 ms |',
      '| Prompt reuse | 97 % |',
      '| Requests | 120 requests, 80 completed, 37 superseded, 3 cancelled, 0 preempted, 0 failed |',
      '| GPU plan | qwen2.5-coder-1.5b: all 29 layers on GPU 0 |',
    ]) {
      assert.ok(md.includes(`\n${row}\n`), `missing row ${row}`);
    }
    assert.match(md, /stop: newline/);
    assert.match(md, /_Click for details and to restart the server\._$/);
  });

  it('the CPU tooltip leaves VRAM out and says prefix-only', () => {
    const rows = statusRows(parseStatus(cpuStatus()));
    const labels = rows.map(([l]) => l);
    assert.ok(!labels.some((l) => l.startsWith('VRAM')));
    assert.deepEqual(rows.find(([l]) => l === 'Device'), ['Device', 'CPU']);
    assert.deepEqual(rows.find(([l]) => l === 'Fill-in-the-middle'), ['Fill-in-the-middle', 'no (prefix only)']);
    assert.deepEqual(rows.find(([l]) => l === 'Host memory'), ['Host memory', '384 MiB']);
  });

  it('error text is escaped and kept on one line', () => {
    const md = statusTooltipMarkdown(parseStatus({ state: 'error', error: 'bad | thing\n<b>x</b> `y`' }));
    assert.match(md, /\| Error \| bad \\\| thing \\<b\\>x\\<\/b\\> \\`y\\` \|/);
  });

  it('download rows show sizes', () => {
    const rows = statusRows(
      parseStatus({ state: 'downloading', model: 'm', progress: { percent: 50, done_bytes: 512 * 1024 ** 2, total_bytes: GiB } }),
    );
    assert.deepEqual(rows.find(([l]) => l === 'Download'), ['Download', '50% (512 MiB of 1.0 GiB)']);
  });

  it('no status yet / not running', () => {
    assert.deepEqual(statusRows(undefined), [['State', 'no status yet']]);
    assert.match(statusTooltipMarkdown(undefined, 'failed'), /not running/);
    assert.match(statusTooltipMarkdown(undefined, 'starting'), /Starting/);
  });
});

describe('units', () => {
  it('gib / humanBytes / vramText', () => {
    assert.equal(gib(5476083712), '5.1');
    assert.equal(gib(80 * GiB), '80.0');
    assert.equal(humanBytes(512), '512 B');
    assert.equal(humanBytes(2048), '2 KiB');
    assert.equal(humanBytes(402653184), '384 MiB');
    assert.equal(humanBytes(24 * GiB), '24.0 GiB');
    assert.equal(vramText(undefined), undefined);
    assert.equal(vramText({}), undefined);
    assert.equal(vramText({ processBytes: GiB, gpuTotalBytes: 24 * GiB }), '1.0/24.0 GiB');
  });

  it('escapeMarkdown', () => {
    assert.equal(escapeMarkdown('a_b*c|d'), 'a\\_b\\*c\\|d');
  });
});
