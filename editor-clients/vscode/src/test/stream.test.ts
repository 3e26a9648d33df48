import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyProgress, applyStreamNotification, parseStreamNotification, StreamRouter, StreamState } from '../stream';

describe('$/progress streams', () => {
  it('begin / report deltas / end', () => {
    let s: StreamState = { text: '' };
    s = applyProgress(s, { kind: 'begin', title: 'codehearth: explain', cancellable: true });
    assert.equal(s.title, 'codehearth: explain');
    s = applyProgress(s, { kind: 'report', message: 'The loop ' });
    s = applyProgress(s, { kind: 'report', message: 'counts.' });
    s = applyProgress(s, { kind: 'report', percentage: 50 });
    assert.equal(s.text, 'The loop counts.');
    assert.equal(s.ended, undefined);
    s = applyProgress(s, { kind: 'end', message: 'cancelled' });
    assert.equal(s.ended, 'cancelled');
    // Nothing after the end.
    assert.equal(applyProgress(s, { kind: 'report', message: 'late' }), s);
  });

  it('ignores junk', () => {
    const s: StreamState = { text: 'a' };
    for (const v of [null, 3, 'report', { kind: 'other' }, { kind: 'report', message: 7 }]) {
      assert.equal(applyProgress(s, v), s);
    }
    assert.equal(applyProgress(s, { kind: 'end' }).ended, 'done');
  });
});

describe('codehearth/stream notifications', () => {
  it('parse and fold', () => {
    const a = parseStreamNotification({ id: 'req-17', command: 'codehearth.chat', session: '4f1c', delta: 'The loop ', done: false });
    assert.deepEqual(a, { id: 'req-17', command: 'codehearth.chat', session: '4f1c', delta: 'The loop ', done: false, stopReason: undefined });
    const b = parseStreamNotification({ id: 17, done: true, stopReason: 'eog' });
    assert.equal(b?.id, '17');
    assert.equal(parseStreamNotification({ delta: 'x' }), undefined);
    assert.equal(parseStreamNotification(null), undefined);
    let s: StreamState = { text: '' };
    s = applyStreamNotification(s, a!);
    s = applyStreamNotification(s, b!);
    assert.deepEqual(s, { text: 'The loop ', ended: 'eog' });
  });
});

describe('StreamRouter', () => {
  it('routes progress and notifications by id, only to open streams', () => {
    const router = new StreamRouter();
    const seen: string[] = [];
    router.open('s1', (s) => seen.push(`s1:${s.text}`));
    router.open('s2', (s) => seen.push(`s2:${s.text}`));
    router.progress('s1', { kind: 'report', message: 'a' });
    router.notification({ id: 's2', delta: 'b', done: false });
    router.progress('nope', { kind: 'report', message: 'z' });
    router.progress('s1', { kind: 'report', message: 'c' });
    router.progress('s1', { kind: 'begin', title: 't' });
    assert.deepEqual(seen, ['s1:a', 's2:b', 's1:ac', 's1:ac']);
    assert.deepEqual(router.close('s1'), { text: 'ac', title: 't' });
    assert.equal(router.has('s1'), false);
    router.progress('s1', { kind: 'report', message: 'late' });
    assert.equal(seen.length, 4);
  });
});
