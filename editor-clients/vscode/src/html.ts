/**
 * The HTML of the codehearth panel (explain results and chat), with a strict
 * Content-Security-Policy: only this page's own nonce'd script and style run.
 *
 * Pure: no `vscode` import. The page talks to the extension with postMessage:
 *
 * extension → page: {type: 'entry', id, role, title?, html, pending?} adds or replaces an
 *   entry; {type: 'clear'}; {type: 'busy', busy}; {type: 'attachment', label?};
 *   {type: 'focus'}.
 * page → extension: {type: 'ready'}, {type: 'send', text}, {type: 'stop'},
 *   {type: 'newChat'}, {type: 'detach'}.
 */

export type EntryRole = 'user' | 'assistant' | 'info' | 'error';

export interface EntryMessage {
  type: 'entry';
  id: string;
  role: EntryRole;
  title?: string;
  html: string;
  /** Still streaming. */
  pending?: boolean;
}

export type PanelMessage =
  | EntryMessage
  | { type: 'clear' }
  | { type: 'busy'; busy: boolean }
  | { type: 'attachment'; label?: string }
  | { type: 'focus' };

export type PageMessage =
  | { type: 'ready' }
  | { type: 'send'; text: string }
  | { type: 'stop' }
  | { type: 'newChat' }
  | { type: 'detach' };

/** A page message from the webview, checked (the webview is not trusted blindly). */
export function parsePageMessage(raw: unknown): PageMessage | undefined {
  if (typeof raw !== 'object' || raw === null) {
    return undefined;
  }
  const m = raw as Record<string, unknown>;
  switch (m.type) {
    case 'ready':
    case 'stop':
    case 'newChat':
    case 'detach':
      return { type: m.type };
    case 'send':
      return typeof m.text === 'string' && m.text.trim().length > 0 ? { type: 'send', text: m.text } : undefined;
    default:
      return undefined;
  }
}

export function makeNonce(random: () => number = Math.random): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let i = 0; i < 32; i++) {
    out += chars[Math.floor(random() * chars.length)];
  }
  return out;
}

/** The page's stylesheet: VS Code theme variables only. */
const PAGE_STYLE = `  body { font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-foreground); padding: 0; margin: 0; display: flex; flex-direction: column; height: 100vh; }
  #log { flex: 1; overflow-y: auto; padding: 8px 14px; }
  .entry { margin: 10px 0; padding: 6px 10px; border-radius: 4px; }
  .entry .title { font-weight: 600; opacity: 0.85; margin-bottom: 4px; }
  .user { background: var(--vscode-editor-inactiveSelectionBackground); }
  .assistant { border-left: 3px solid var(--vscode-textLink-foreground); }
  .info { opacity: 0.8; font-style: italic; }
  .error { border-left: 3px solid var(--vscode-errorForeground); color: var(--vscode-errorForeground); }
  .pending .body::after { content: "▍"; opacity: 0.6; }
  pre { background: var(--vscode-textCodeBlock-background); padding: 6px 8px; overflow-x: auto; border-radius: 3px; }
  code { font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); }
  p { margin: 4px 0; }
  #bar { border-top: 1px solid var(--vscode-panel-border); padding: 8px 14px; }
  #attachment { display: none; font-size: 90%; margin-bottom: 4px; opacity: 0.85; }
  #attachment button { margin-left: 6px; }
  #row { display: flex; gap: 6px; align-items: flex-end; }
  textarea { flex: 1; resize: vertical; min-height: 3.2em; max-height: 40vh; font-family: inherit; font-size: inherit; color: var(--vscode-input-foreground); background: var(--vscode-input-background); border: 1px solid var(--vscode-input-border, transparent); padding: 4px 6px; }
  button { color: var(--vscode-button-foreground); background: var(--vscode-button-background); border: none; padding: 4px 10px; cursor: pointer; }
  button.secondary { color: var(--vscode-button-secondaryForeground); background: var(--vscode-button-secondaryBackground); }
  button:disabled { opacity: 0.5; cursor: default; }
`;

/** The log of entries and the input bar under it. */
const PAGE_BODY = `<div id="log" role="log" aria-live="polite"></div>
<div id="bar">
  <div id="attachment"><span id="attachment-label"></span><button id="detach" class="secondary" title="Do not attach">✕</button></div>
  <div id="row">
    <textarea id="input" rows="2" placeholder="Ask codehearth… (Enter sends, Shift+Enter: new line)" aria-label="Message"></textarea>
    <button id="send">Send</button>
    <button id="stop" class="secondary" disabled>Stop</button>
    <button id="new" class="secondary" title="Forget this conversation">New chat</button>
  </div>
</div>`;

/** The page's script: renders entries, posts the input back (see the protocol above). */
const PAGE_SCRIPT = `(function () {
  const vscode = acquireVsCodeApi();
  const log = document.getElementById('log');
  const input = document.getElementById('input');
  const stop = document.getElementById('stop');
  const attachment = document.getElementById('attachment');
  const attachmentLabel = document.getElementById('attachment-label');
  function send() {
    const text = input.value;
    if (!text.trim()) { return; }
    vscode.postMessage({ type: 'send', text: text });
    input.value = '';
  }
  document.getElementById('send').addEventListener('click', send);
  stop.addEventListener('click', function () { vscode.postMessage({ type: 'stop' }); });
  document.getElementById('new').addEventListener('click', function () { vscode.postMessage({ type: 'newChat' }); });
  document.getElementById('detach').addEventListener('click', function () { vscode.postMessage({ type: 'detach' }); });
  input.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
  window.addEventListener('message', function (event) {
    const m = event.data;
    if (!m || typeof m !== 'object') { return; }
    if (m.type === 'entry') {
      const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
      let el = document.getElementById('entry-' + m.id);
      if (!el) {
        el = document.createElement('div');
        el.id = 'entry-' + m.id;
        log.appendChild(el);
      }
      el.className = 'entry ' + m.role + (m.pending ? ' pending' : '');
      el.textContent = '';
      if (m.title) {
        const t = document.createElement('div');
        t.className = 'title';
        t.textContent = m.title;
        el.appendChild(t);
      }
      const body = document.createElement('div');
      body.className = 'body';
      body.innerHTML = m.html;
      el.appendChild(body);
      if (atBottom) { log.scrollTop = log.scrollHeight; }
    } else if (m.type === 'clear') {
      log.textContent = '';
    } else if (m.type === 'busy') {
      stop.disabled = !m.busy;
    } else if (m.type === 'attachment') {
      attachment.style.display = m.label ? 'block' : 'none';
      attachmentLabel.textContent = m.label ? 'Attached: ' + m.label : '';
    } else if (m.type === 'focus') {
      input.focus();
    }
  });
  vscode.postMessage({ type: 'ready' });
})();
`;

export function panelHtml(nonce: string, cspSource: string): string {
  const csp = [
    "default-src 'none'",
    `style-src 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}'`,
    `font-src ${cspSource}`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>codehearth</title>
<style nonce="${nonce}">
${PAGE_STYLE}</style>
</head>
<body>
${PAGE_BODY}
<script nonce="${nonce}">
${PAGE_SCRIPT}</script>
</body>
</html>`;
}
