#!/usr/bin/env node
/*
 * Protocol smoke test without VS Code: starts `codehearth serve` the way the extension
 * does (same launch, initializationOptions and command arguments, built by the compiled
 * modules in out/), then runs status, an inline completion, a streamed explain, a chat,
 * a cancel and a review. Not part of `npm test` (it needs the server and loads a model).
 *
 *   npm run compile && node e2e/lsp-smoke.js [path/to/codehearth]
 */
'use strict';

const cp = require('child_process');
const path = require('path');
const rpc = require('vscode-languageserver-protocol/node');
const { readSettings, serverLaunch, toInitializationOptions } = require('../out/config');
const { chatArgs, explainArgs, reviewArgs, cancelArgs, attachmentFor, newStreamId, parseReviewResult, reviewSummary } = require('../out/commands');
const { StreamRouter } = require('../out/stream');
const { parseStatus } = require('../out/status');
const { statusBarView } = require('../out/statusView');

const SOURCE = [
  'def fizzbuzz(n):',
  '    out = []',
  '    for i in range(1, n + 1):',
  '        if i % 15 == 0:',
  '            out.append("FizzBuzz")',
  '        elif i % 3 == 0:',
  '            out.append("Fizz")',
  '        elif i % 5 == 0:',
  '            out.append("Buzz")',
  '        else:',
  '            out.append(str(i))',
  '    return out',
  '',
  '',
  'def total(xs):',
  '    s = 0',
  '    for x in xs:',
  '        s += ',
  '',
].join('\n');

async function main() {
  const values = { serverCommand: process.argv[2] || 'codehearth', 'completion.multiline': 'auto' };
  const { settings } = readSettings((k) => values[k]);
  const launch = serverLaunch(settings, { home: process.env.HOME });
  const t0 = Date.now();
  const ms = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
  const proc = cp.spawn(launch.command, launch.args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  const conn = rpc.createProtocolConnection(new rpc.StreamMessageReader(proc.stdout), new rpc.StreamMessageWriter(proc.stdin));
  const router = new StreamRouter();
  const statuses = [];
  const diagnostics = [];
  conn.onNotification('codehearth/status', (p) => statuses.push(p));
  conn.onNotification('codehearth/stream', (p) => router.notification(p));
  conn.onNotification(rpc.PublishDiagnosticsNotification.type, (p) => diagnostics.push(p));
  conn.onNotification(rpc.ShowMessageNotification.type, (p) => console.log(`[showMessage] ${p.message}`));
  conn.onRequest(rpc.WorkDoneProgressCreateRequest.type, () => null);
  conn.onNotification('$/progress', (p) => router.progress(String(p.token), p.value));
  conn.listen();

  const init = await conn.sendRequest(rpc.InitializeRequest.type, {
    processId: process.pid,
    rootUri: null,
    capabilities: {
      window: { workDoneProgress: true },
      textDocument: { inlineCompletion: { dynamicRegistration: false }, publishDiagnostics: {} },
      general: { positionEncodings: ['utf-16'] },
    },
    initializationOptions: toInitializationOptions(settings),
  });
  console.log(`${ms()} initialize: inlineCompletionProvider=${JSON.stringify(init.capabilities.inlineCompletionProvider)} commands=${JSON.stringify(init.capabilities.executeCommandProvider?.commands)}`);
  conn.sendNotification(rpc.InitializedNotification.type, {});
  const uri = 'file://' + path.resolve('/tmp/codehearth-smoke/fizz.py');
  conn.sendNotification(rpc.DidOpenTextDocumentNotification.type, {
    textDocument: { uri, languageId: 'python', version: 1, text: SOURCE },
  });

  const exec = (command, arg, workDoneToken) =>
    conn.sendRequest(rpc.ExecuteCommandRequest.type, { command, arguments: arg === undefined ? [] : [arg], workDoneToken });

  let status;
  for (let i = 0; i < 240; i++) {
    status = parseStatus(await exec('codehearth.status'));
    if (status && (status.state === 'ready' || status.state === 'error')) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  console.log(`${ms()} status bar: ${statusBarView(status).text}`);

  const ic = await conn.sendRequest('textDocument/inlineCompletion', {
    textDocument: { uri },
    position: { line: 17, character: 13 },
    context: { triggerKind: 2 },
  });
  console.log(`${ms()} inlineCompletion: ${JSON.stringify(ic)}`);

  const streamed = async (command, build) => {
    const id = newStreamId(command.replace('codehearth.', ''));
    let updates = 0;
    router.open(id, () => updates++);
    const result = await exec(command, build(id), id);
    const state = router.close(id);
    return { result, state, updates };
  };

  const ex = await streamed('codehearth.explain', (streamId) =>
    explainArgs(uri, { start: { line: 0, character: 0 }, end: { line: 12, character: 0 } }, { streamId, lineLength: (n) => SOURCE.split('\n')[n].length, sampling: { max_tokens: 60, temperature: 0.2 } }));
  console.log(`${ms()} explain: ${ex.updates} progress updates, streamed ${ex.state.text.length} chars, ended=${ex.state.ended}, result.markdown ${ex.result.markdown.length} chars, stopReason=${ex.result.stopReason}, same text=${ex.state.text.trim() === ex.result.markdown}`);

  const session = 'vscode-smoke-1';
  const ch = await streamed('codehearth.chat', (streamId) =>
    chatArgs('What does fizzbuzz return?', { session, attachment: attachmentFor(uri, { start: { line: 0, character: 0 }, end: { line: 11, character: 14 } }), streamId, sampling: { max_tokens: 40 } }));
  console.log(`${ms()} chat: ${ch.updates} updates, reply ${ch.result.reply.length} chars, session=${ch.result.session}, stopReason=${ch.result.stopReason}`);

  // Cancel a running chat by its stream id.
  const id = newStreamId('chat');
  router.open(id, () => undefined);
  const pending = exec('codehearth.chat', chatArgs('Write a long essay about loops.', { session, streamId: id, sampling: { max_tokens: 400 } }), id);
  await new Promise((r) => setTimeout(r, 300));
  const cancelled = await exec('codehearth.cancel', cancelArgs({ streamId: id }));
  const cr = await pending;
  router.close(id);
  console.log(`${ms()} cancel: ${JSON.stringify(cancelled)}; chat cancelled=${cr.cancelled} stopReason=${cr.stopReason}`);
  console.log(`${ms()} chat.reset: ${JSON.stringify(await exec('codehearth.chat.reset', { session }))}`);

  const rv = await streamed('codehearth.review', (streamId) => reviewArgs(uri, undefined, { streamId, sampling: { temperature: 0 } }));
  const review = parseReviewResult(rv.result);
  await new Promise((r) => setTimeout(r, 200));
  console.log(`${ms()} review: ${reviewSummary(review, 'fizz.py')} progress ended=${rv.state.ended}; publishDiagnostics: ${diagnostics.map((d) => `${d.diagnostics.length} on ${path.basename(d.uri)}`).join(', ') || 'none'}`);

  const bad = await exec('codehearth.chat', { message: 'x', bogus: 1 }).catch((e) => e);
  console.log(`${ms()} invalid argument → ${bad.code} ${bad.message}`);
  console.log(`${ms()} codehearth/status pushes seen: ${statuses.length}${statuses.length ? `, last: ${statusBarView(parseStatus(statuses[statuses.length - 1])).text}` : ''}`);

  await conn.sendRequest(rpc.ShutdownRequest.type);
  conn.sendNotification(rpc.ExitNotification.type);
  await new Promise((r) => proc.on('exit', r));
  console.log(`${ms()} server exited; stderr ${stderr.length} bytes${stderr.includes('total(xs)') || stderr.includes('fizzbuzz(n)') ? ' — CONTAINS USER CODE' : ' (no user code)'}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
