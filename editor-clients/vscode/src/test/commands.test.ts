import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  attachmentFor,
  cancelArgs,
  chatArgs,
  errorMessage,
  explainArgs,
  lineSpan,
  newStreamId,
  parseChatResult,
  parseExplainResult,
  parseReviewResult,
  replyNote,
  reviewArgs,
  reviewSummary,
  toLspRange,
} from '../commands';

const URI = 'file:///w/app.py';
const sel = (sl: number, sc: number, el: number, ec: number) => ({
  start: { line: sl, character: sc },
  end: { line: el, character: ec },
});
/** A fake document whose line n is 10 + n characters long. */
const lineLength = (n: number): number => 10 + n;

describe('ranges', () => {
  it('keeps 0-based LSP positions as they are', () => {
    assert.deepEqual(toLspRange(sel(3, 4, 7, 2)), sel(3, 4, 7, 2));
  });

  it('orders a selection dragged upwards', () => {
    // VS Code's Selection has start <= end, but anchor/active may come reversed from elsewhere.
    assert.deepEqual(toLspRange(sel(7, 2, 3, 4)), sel(3, 4, 7, 2));
    assert.deepEqual(toLspRange(sel(3, 9, 3, 1)), sel(3, 1, 3, 9));
  });

  it('a multi-line selection ending at column 0 stops at the end of the line before', () => {
    assert.deepEqual(toLspRange(sel(2, 0, 5, 0), lineLength), sel(2, 0, 4, 14));
    // Without line lengths it cannot be trimmed and is kept.
    assert.deepEqual(toLspRange(sel(2, 0, 5, 0)), sel(2, 0, 5, 0));
    // A single-line or empty range is never trimmed.
    assert.deepEqual(toLspRange(sel(5, 0, 5, 0), lineLength), sel(5, 0, 5, 0));
  });

  it('is plain JSON (no class instances, integer positions)', () => {
    const r = toLspRange({ start: { line: 1.7, character: -3 }, end: { line: 2, character: 4 } });
    assert.equal(JSON.stringify(r), '{"start":{"line":1,"character":0},"end":{"line":2,"character":4}}');
  });

  it('lineSpan is 1-based', () => {
    assert.equal(lineSpan(sel(0, 0, 0, 5)), 'line 1');
    assert.equal(lineSpan(sel(3, 0, 8, 1)), 'lines 4–9');
    assert.equal(lineSpan(undefined), 'whole file');
  });
});

describe('codehearth.explain', () => {
  it('an empty selection is the cursor (the server takes the definition around it)', () => {
    assert.deepEqual(explainArgs(URI, sel(4, 6, 4, 6)), { uri: URI, range: sel(4, 6, 4, 6) });
  });

  it('a selection with stream id and sampling', () => {
    assert.deepEqual(
      explainArgs(URI, sel(1, 0, 3, 0), { streamId: 's-1', sampling: { temperature: 0.2 }, lineLength }),
      { uri: URI, range: sel(1, 0, 2, 12), streamId: 's-1', sampling: { temperature: 0.2 } },
    );
  });
});

describe('codehearth.chat', () => {
  it('a bare message has only the message', () => {
    assert.equal(JSON.stringify(chatArgs('hi')), '{"message":"hi"}');
  });

  it('session, attachment with a range, stream id, sampling', () => {
    const attachment = attachmentFor(URI, sel(2, 0, 4, 3));
    assert.deepEqual(chatArgs('why?', { session: 'abc', attachment, streamId: 'x', sampling: { temperature: 0.7 } }), {
      message: 'why?',
      session: 'abc',
      uri: URI,
      range: sel(2, 0, 4, 3),
      streamId: 'x',
      sampling: { temperature: 0.7 },
    });
  });

  it('an empty selection attaches the whole file (uri without range)', () => {
    assert.deepEqual(attachmentFor(URI, sel(3, 3, 3, 3)), { uri: URI });
    assert.deepEqual(attachmentFor(URI, undefined), { uri: URI });
    assert.deepEqual(chatArgs('m', { attachment: { uri: URI } }), { message: 'm', uri: URI });
  });
});

describe('codehearth.review and codehearth.cancel', () => {
  it('whole file without a selection, the selected lines with one', () => {
    assert.deepEqual(reviewArgs(URI, undefined), { uri: URI });
    assert.deepEqual(reviewArgs(URI, sel(5, 5, 5, 5), { streamId: 'r' }), { uri: URI, streamId: 'r' });
    assert.deepEqual(reviewArgs(URI, sel(5, 0, 9, 0), { lineLength, sampling: { temperature: 0 } }), {
      uri: URI,
      range: sel(5, 0, 8, 18),
      sampling: { temperature: 0 },
    });
  });

  it('cancel needs a stream id or a session', () => {
    assert.deepEqual(cancelArgs({ streamId: 's' }), { streamId: 's' });
    assert.deepEqual(cancelArgs({ session: 'c' }), { session: 'c' });
    assert.throws(() => cancelArgs({}));
  });

  it('stream ids are unique and within the server limit', () => {
    const ids = new Set(Array.from({ length: 100 }, () => newStreamId('explain')));
    assert.equal(ids.size, 100);
    for (const id of ids) {
      assert.ok(id.length >= 1 && id.length <= 128);
      assert.match(id, /^vscode-explain-[a-z0-9]+-\d+-[0-9a-f]{8}$/);
    }
    assert.ok(newStreamId('x'.repeat(300)).length <= 128);
  });
});

describe('results', () => {
  it('explain and chat results, camelCase or snake_case, missing fields', () => {
    assert.deepEqual(parseExplainResult({ markdown: 'It loops.', stopReason: 'eog', cancelled: false }), {
      markdown: 'It loops.',
      stopReason: 'eog',
      cancelled: false,
    });
    assert.deepEqual(parseExplainResult(null), { markdown: '', stopReason: undefined, cancelled: false });
    assert.deepEqual(parseChatResult({ session: 's', reply: 'ok', stop_reason: 'length', cancelled: true }), {
      session: 's',
      reply: 'ok',
      stopReason: 'length',
      cancelled: true,
    });
  });

  it('review result and summary', () => {
    const raw = {
      findings: [
        { line: 3, severity: 'warning', message: 'unused', end_line: 3, uri: URI, range: sel(2, 0, 2, 9) },
        { line: 5, severity: 'error', message: 'bug', replacement: 'x = 1' },
      ],
      dropped: 1,
      truncated: true,
      stopReason: 'eog',
      cancelled: false,
    };
    const r = parseReviewResult(raw);
    assert.equal(r.findings.length, 2);
    assert.deepEqual(r.findings[0], { line: 3, endLine: 3, severity: 'warning', message: 'unused', hasFix: false });
    assert.equal(r.findings[1].hasFix, true);
    assert.equal(
      reviewSummary(r, 'app.py'),
      '2 findings (1 with a fix) in app.py — the file was cut to fit the context window; 1 invalid finding dropped.',
    );
    assert.equal(reviewSummary(parseReviewResult({ findings: [] }), 'app.py', sel(0, 0, 4, 0)), 'No findings in app.py, lines 1–5.');
    assert.equal(
      reviewSummary(parseReviewResult({ findings: [{ message: 'm' }], cancelled: true }), 'a.go'),
      '1 finding in a.go — cancelled.',
    );
    assert.deepEqual(parseReviewResult('nonsense'), {
      findings: [],
      dropped: 0,
      truncated: false,
      stopReason: undefined,
      cancelled: false,
    });
  });

  it('errorMessage of JSON-RPC errors and others', () => {
    assert.equal(errorMessage(new Error('codehearth.chat: invalid argument (message: Field required)')),
      'codehearth.chat: invalid argument (message: Field required)');
    assert.equal(errorMessage({ code: -32803, message: 'model not started' }), 'model not started');
    assert.equal(errorMessage('x'), 'x');
  });
});

describe('replyNote', () => {
  it('says why a reply ended early, and nothing when it ended by itself', () => {
    assert.equal(replyNote({ cancelled: true, stopReason: 'length' }), '\n\n*(stopped)*');
    assert.equal(replyNote({ stopReason: 'length' }), '\n\n*(cut at the token limit)*');
    assert.equal(replyNote({ stopReason: 'stop' }), '');
  });
});
