import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseStatus } from '../status';
import { statusPickEntries, statusPickTitle } from '../statusPick';

const READY = parseStatus({ state: 'ready', model: 'smollm2-135m', device: 'cpu', tokens_per_s: 151.2 });

describe('Show Status picker', () => {
  it('the first item, the one Enter picks, is harmless', () => {
    for (const connection of ['running', 'starting', 'stopped', 'failed'] as const) {
      const first = statusPickEntries(READY, connection).find((e) => e.kind !== 'separator');
      assert.ok(first && first.kind === 'action', connection);
      assert.equal(first.action, 'showLog');
    }
  });

  it('Restart Server is there once, explicit, after every harmless action and a separator', () => {
    const entries = statusPickEntries(READY, 'running');
    const actions = entries.filter((e) => e.kind === 'action');
    const restarts = actions.filter((e) => e.action === 'restart');
    assert.equal(restarts.length, 1);
    assert.equal(actions[actions.length - 1], restarts[0]);
    const at = entries.indexOf(restarts[0]);
    assert.equal(entries[at - 1].kind, 'separator');
    assert.match(restarts[0].label, /Restart Server/);
    assert.ok(restarts[0].kind === 'action' && restarts[0].description);
    assert.deepEqual(
      actions.map((e) => e.kind === 'action' && e.action),
      ['showLog', 'copyStatus', 'openSettings', 'restart'],
    );
  });

  it('lists the status rows after the actions', () => {
    const entries = statusPickEntries(READY, 'running');
    assert.deepEqual(entries.find((e) => e.kind === 'row' && e.label === 'Speed'), {
      kind: 'row',
      label: 'Speed',
      description: '151.2 tokens/s',
    });
    const lastAction = entries.map((e) => e.kind).lastIndexOf('action');
    assert.ok(entries.slice(lastAction + 1).every((e) => e.kind !== 'action'));
  });

  it('not running: says so, and the server status is not shown', () => {
    const entries = statusPickEntries(READY, 'failed');
    assert.deepEqual(entries.find((e) => e.kind === 'row' && e.label === 'Server'), {
      kind: 'row',
      label: 'Server',
      description: 'failed',
    });
    assert.deepEqual(entries.find((e) => e.kind === 'row' && e.label === 'State'), {
      kind: 'row',
      label: 'State',
      description: 'no status yet',
    });
  });

  it('the title is the status-bar text without codicons', () => {
    assert.equal(statusPickTitle(READY, 'running'), 'codehearth — ⬢ smollm2-135m CPU 151 t/s');
    assert.equal(statusPickTitle(undefined, 'failed'), 'codehearth — ⬢ codehearth: not running');
  });
});
