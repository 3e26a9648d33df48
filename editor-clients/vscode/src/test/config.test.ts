import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import {
  documentSelector,
  expandPath,
  needsRestart,
  RESTART_KEYS,
  readSettings,
  resolveCommand,
  samplingFor,
  serverLaunch,
  SettingGetter,
  toInitializationOptions,
} from '../config';

function getter(values: Record<string, unknown>): SettingGetter {
  return (key) => values[key];
}

/** What server/codehearth/lsp/options.py (InitOptions) and CompletionSettings accept. */
const SERVER_KEYS = ['manifest', 'model', 'context', 'nGpuLayers', 'nThreads', 'completion', 'logContent'];
const SERVER_COMPLETION_KEYS = [
  'multiline',
  'maxTokensSingle',
  'maxTokensMulti',
  'temperature',
  'maxPromptTokens',
  'maxLinesBefore',
  'maxLinesAfter',
];

const ALL_SET = {
  serverCommand: '~/venv/bin/codehearth',
  serverArgs: ['--log-level', 'debug'],
  model: 'qwen2.5-coder-1.5b',
  manifest: '${workspaceFolder}/models.toml',
  context: 4096,
  nGpuLayers: -1,
  nThreads: 8,
  logContent: true,
  languages: ['python', ' go '],
  'completion.enabled': false,
  'completion.multiline': 'never',
  'completion.maxTokensSingle': 24,
  'completion.maxTokensMulti': 128,
  'completion.temperature': 0.2,
  'completion.maxPromptTokens': 2048,
  'completion.maxLinesBefore': 100,
  'completion.maxLinesAfter': 0,
  'explain.temperature': 0.2,
  'chat.temperature': 0.7,
  'review.temperature': 0,
  replyMaxTokens: 512,
};

describe('settings → initializationOptions', () => {
  it('defaults: nothing set sends only logContent=false', () => {
    const { settings, warnings } = readSettings(getter({}));
    assert.deepEqual(warnings, []);
    assert.equal(settings.serverCommand, 'codehearth');
    assert.deepEqual(settings.serverArgs, []);
    assert.equal(settings.completion.enabled, true);
    assert.deepEqual(toInitializationOptions(settings), { logContent: false });
  });

  it('VS Code defaults (empty strings, nulls) are treated as unset', () => {
    const { settings, warnings } = readSettings(
      getter({
        serverCommand: 'codehearth',
        serverArgs: [],
        model: '',
        manifest: '  ',
        context: null,
        nGpuLayers: null,
        nThreads: null,
        logContent: false,
        languages: [],
        'completion.enabled': true,
        'completion.multiline': 'auto',
        'completion.maxTokensSingle': null,
        'completion.temperature': null,
      }),
    );
    assert.deepEqual(warnings, []);
    assert.deepEqual(toInitializationOptions(settings), { completion: { multiline: 'auto' }, logContent: false });
  });

  it('everything set: camelCase keys the server knows, paths expanded', () => {
    const { settings, warnings } = readSettings(getter(ALL_SET));
    assert.deepEqual(warnings, []);
    const options = toInitializationOptions(settings, { home: '/home/u', workspaceFolder: '/w' });
    assert.deepEqual(options, {
      model: 'qwen2.5-coder-1.5b',
      manifest: '/w/models.toml',
      context: 4096,
      nGpuLayers: -1,
      nThreads: 8,
      completion: {
        multiline: 'never',
        maxTokensSingle: 24,
        maxTokensMulti: 128,
        temperature: 0.2,
        maxPromptTokens: 2048,
        maxLinesBefore: 100,
        maxLinesAfter: 0,
      },
      logContent: true,
    });
    for (const key of Object.keys(options)) {
      assert.ok(SERVER_KEYS.includes(key), `server does not accept ${key}`);
    }
    for (const key of Object.keys(options.completion as object)) {
      assert.ok(SERVER_COMPLETION_KEYS.includes(key), `server does not accept completion.${key}`);
    }
    // Client-only settings never reach the server.
    assert.equal(settings.completion.enabled, false);
    assert.deepEqual(settings.languages, ['python', 'go']);
  });

  it('invalid values are dropped with a warning (the server would reject all options)', () => {
    const { settings, warnings } = readSettings(
      getter({
        context: 100,
        nGpuLayers: -2,
        nThreads: 2.5,
        'completion.multiline': 'sometimes',
        'completion.maxTokensSingle': 5000,
        'completion.maxPromptTokens': 10,
        'completion.temperature': 9,
        'completion.maxLinesAfter': -1,
        model: 7,
        serverArgs: 'serve --x',
        replyMaxTokens: 0,
      }),
    );
    assert.equal(warnings.length, 11, warnings.join('\n'));
    assert.ok(warnings.some((w) => w.includes('codehearth.context') && w.includes('256–1048576')));
    assert.ok(warnings.some((w) => w.includes('codehearth.completion.multiline')));
    assert.deepEqual(toInitializationOptions(settings), { logContent: false });
    assert.deepEqual(settings.serverArgs, []);
    assert.equal(settings.replyMaxTokens, undefined);
  });

  it('bounds are inclusive', () => {
    const { settings, warnings } = readSettings(
      getter({ context: 256, nGpuLayers: 0, nThreads: 1024, 'completion.maxLinesAfter': 0, 'completion.temperature': 5 }),
    );
    assert.deepEqual(warnings, []);
    assert.deepEqual(toInitializationOptions(settings), {
      context: 256,
      nGpuLayers: 0,
      nThreads: 1024,
      completion: { maxLinesAfter: 0, temperature: 5 },
      logContent: false,
    });
  });

  it('logContent is only true when set to true', () => {
    assert.equal(readSettings(getter({ logContent: 'yes' })).settings.logContent, false);
    assert.equal(readSettings(getter({ logContent: true })).settings.logContent, true);
  });
});

describe('server command', () => {
  it('runs `serve` with the extra arguments after it', () => {
    const { settings } = readSettings(getter(ALL_SET));
    assert.deepEqual(serverLaunch(settings, { home: '/home/u' }), {
      command: '/home/u/venv/bin/codehearth',
      args: ['serve', '--log-level', 'debug'],
    });
    assert.deepEqual(serverLaunch(readSettings(getter({})).settings), { command: 'codehearth', args: ['serve'] });
  });

  it('resolveCommand: a path is checked as it is, a bare name is looked up on PATH', () => {
    const files = new Set(['/opt/venv/bin/codehearth', '/usr/bin/python3']);
    const isExe = (f: string) => files.has(f);
    assert.equal(resolveCommand('codehearth', '/usr/bin:/opt/venv/bin', isExe, 'linux'), '/opt/venv/bin/codehearth');
    assert.equal(resolveCommand('codehearth', '/usr/bin::/opt/venv/bin/', isExe, 'linux'), '/opt/venv/bin/codehearth');
    assert.equal(resolveCommand('codehearth', '/usr/bin', isExe, 'linux'), undefined);
    assert.equal(resolveCommand('codehearth', undefined, isExe, 'linux'), undefined);
    assert.equal(resolveCommand('/opt/venv/bin/codehearth', '', isExe, 'linux'), '/opt/venv/bin/codehearth');
    assert.equal(resolveCommand('./codehearth', '/opt/venv/bin', isExe, 'linux'), undefined);
    const win = new Set(['C:\\venv\\Scripts\\codehearth.exe']);
    assert.equal(
      resolveCommand('codehearth', 'C:\\Windows;C:\\venv\\Scripts', (f) => win.has(f), 'win32'),
      'C:\\venv\\Scripts\\codehearth.exe',
    );
  });

  it('expandPath', () => {
    const env = { home: '/home/u', workspaceFolder: '/ws' };
    assert.equal(expandPath('~', env), '/home/u');
    assert.equal(expandPath('~/a', env), '/home/u/a');
    assert.equal(expandPath('a~/b', env), 'a~/b');
    assert.equal(expandPath('${workspaceFolder}/.venv/bin/codehearth', env), '/ws/.venv/bin/codehearth');
    assert.equal(expandPath('${userHome}/x', env), '/home/u/x');
    assert.equal(expandPath('${workspaceFolder}/x', {}), '${workspaceFolder}/x');
  });
});

describe('document selector, restarts, sampling', () => {
  it('every file and untitled document by default, else the listed languages', () => {
    assert.deepEqual(documentSelector(readSettings(getter({})).settings), [{ scheme: 'file' }, { scheme: 'untitled' }]);
    assert.deepEqual(documentSelector(readSettings(getter({ languages: ['python'] })).settings), [
      { scheme: 'file', language: 'python' },
      { scheme: 'untitled', language: 'python' },
    ]);
  });

  it('server settings restart the server, client-only ones do not', () => {
    const only = (section: string) => (s: string) => s === section;
    assert.equal(needsRestart(only('codehearth.model')), true);
    assert.equal(needsRestart(only('codehearth.completion.multiline')), true);
    assert.equal(needsRestart(only('codehearth.completion.enabled')), false);
    assert.equal(needsRestart(only('codehearth.chat.temperature')), false);
    assert.equal(needsRestart(only('editor.fontSize')), false);
  });

  it('per-command sampling overrides', () => {
    const { settings } = readSettings(getter(ALL_SET));
    assert.deepEqual(samplingFor('explain', settings), { temperature: 0.2, max_tokens: 512 });
    assert.deepEqual(samplingFor('chat', settings), { temperature: 0.7, max_tokens: 512 });
    assert.deepEqual(samplingFor('review', settings), { temperature: 0 });
    assert.equal(samplingFor('chat', readSettings(getter({})).settings), undefined);
  });
});

describe('package.json', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
  const properties: Record<string, { markdownDescription?: string; description?: string; default?: unknown }> =
    pkg.contributes.configuration.properties;

  it('every contributed setting is read, described, and every read setting is contributed', () => {
    const read = new Set<string>();
    readSettings((key) => {
      read.add(key);
      return undefined;
    });
    const contributed = Object.keys(properties).map((k) => k.replace(/^codehearth\./, ''));
    assert.deepEqual([...read].sort(), [...contributed].sort());
    for (const [key, p] of Object.entries(properties)) {
      assert.ok((p.markdownDescription ?? p.description ?? '').length > 20, `${key} has no description`);
    }
  });

  it('contributed defaults produce no warnings and send nothing but logContent and multiline', () => {
    const defaults: Record<string, unknown> = {};
    for (const [key, p] of Object.entries(properties)) {
      defaults[key.replace(/^codehearth\./, '')] = p.default;
    }
    const { settings, warnings } = readSettings(getter(defaults));
    assert.deepEqual(warnings, []);
    assert.deepEqual(toInitializationOptions(settings), { completion: { multiline: 'auto' }, logContent: false });
  });

  it('restart keys are contributed settings', () => {
    for (const key of RESTART_KEYS) {
      assert.ok(`codehearth.${key}` in properties, key);
    }
  });

  it('commands are contributed, and none clashes with a server command', () => {
    const ids: string[] = pkg.contributes.commands.map((c: { command: string }) => c.command);
    for (const id of [
      'codehearth.explainSelection',
      'codehearth.openChat',
      'codehearth.reviewFile',
      'codehearth.showStatus',
      'codehearth.restartServer',
    ]) {
      assert.ok(ids.includes(id), id);
    }
    // vscode-languageclient registers the server's executeCommand commands under their own ids.
    const server = ['codehearth.status', 'codehearth.explain', 'codehearth.chat', 'codehearth.chat.reset',
      'codehearth.chat.debugPrompt', 'codehearth.cancel', 'codehearth.review'];
    for (const id of ids) {
      assert.ok(!server.includes(id), `${id} clashes with a server command`);
    }
    const src = fs.readFileSync(path.join(__dirname, '..', '..', 'src', 'extension.ts'), 'utf8');
    for (const id of ids) {
      assert.ok(src.includes(`registerCommand('${id}'`), `${id} is not registered`);
    }
  });

  it('engines.vscode matches @types/vscode', () => {
    const types = pkg.devDependencies['@types/vscode'].replace(/^[\^~]/, '');
    assert.equal(pkg.engines.vscode, `^${types}`);
  });
});
