#!/usr/bin/env node
/*
 * Records what the VS Code extension's language client sends in `initialize`:
 * vscode-languageclient (the version in editor-clients/vscode/node_modules, the one the
 * extension ships) starts record_initialize.py over stdio and initializes it.
 *
 * The client capabilities are built by vscode-languageclient alone (no feature's
 * fillClientCapabilities asks the VS Code API anything), so a stand-in for the `vscode`
 * module is enough to run it outside a workbench; only clientInfo comes from the
 * stand-in: VS Code's app name and the extension's minimum engine version.
 *
 *   node record_vscode.js EXTENSION_DIR RECORDER OUT.json [PYTHON]
 * Run by record.py.
 */
'use strict';

const Module = require('module');
const path = require('path');

const [extensionDir, recorder, out, python = 'python3'] = process.argv.slice(2);
const engine = require(path.join(extensionDir, 'package.json')).engines.vscode.replace(/^\^/, '');

/** Any property, call or `new` of the stand-in gives another stand-in. */
function standIn(name) {
  const known = { 'vscode.version': engine, 'vscode.env.appName': 'Visual Studio Code', 'vscode.env.language': 'en' };
  return new Proxy(function () {}, {
    get(_target, prop) {
      const key = `${name}.${String(prop)}`;
      if (key in known) return known[key];
      if (prop === 'then' || prop === 'workspaceFolders') return undefined; // not a promise; no folder
      if (prop === Symbol.iterator) return function* () {};
      if (prop === Symbol.toPrimitive) return () => 0;
      return standIn(key);
    },
    apply: () => standIn(`${name}()`),
    construct: () => standIn(`new ${name}`),
  });
}

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return request === 'vscode' ? 'vscode' : resolve.call(this, request, ...rest);
};
require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: standIn('vscode') };

const main = path.join(extensionDir, 'node_modules', 'vscode-languageclient', 'lib', 'node', 'main.js');
const { LanguageClient } = require(main);
const client = new LanguageClient(
  'codehearth',
  'codehearth',
  { command: python, args: [recorder, out] },
  { documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }] },
);
setTimeout(() => {
  console.error('no initialize answer in 20 s');
  process.exit(2);
}, 20000).unref();
client
  .start()
  .then(() => client.stop())
  .then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
