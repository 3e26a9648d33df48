/**
 * VS Code glue: starts `codehearth serve` with vscode-languageclient (inline completion
 * comes with the client's built-in LSP 3.18 feature), and wires the commands, the
 * panel and the status-bar item to the pure modules beside this one.
 *
 * Never logs user code: only command names, sizes and server messages go to the log.
 */

import * as fs from 'fs';
import * as os from 'os';
import * as vscode from 'vscode';
import {
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
  State,
  WorkDoneProgress,
} from 'vscode-languageclient/node';
import {
  attachmentFor,
  Attachment,
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
  SERVER_COMMANDS,
} from './commands';
import {
  documentSelector,
  needsRestart,
  PathEnv,
  readSettings,
  resolveCommand,
  samplingFor,
  serverLaunch,
  Settings,
  toInitializationOptions,
} from './config';
import { escapeHtml, renderMarkdown } from './markdown';
import { CodehearthPanel } from './panel';
import { ConnectionState, parseStatus, ServerStatus, statusBarView, statusRows, statusTooltipMarkdown } from './status';
import { StreamRouter, StreamState } from './stream';

const STATUS_NOTIFICATION = 'codehearth/status';
const STREAM_NOTIFICATION = 'codehearth/stream';

function currentSettings(): { settings: Settings; warnings: string[] } {
  const config = vscode.workspace.getConfiguration('codehearth');
  return readSettings((key) => config.get(key));
}

function pathEnv(): PathEnv {
  return { home: os.homedir(), workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath };
}

function isExecutable(file: string): boolean {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) {
      return false;
    }
    fs.accessSync(file, process.platform === 'win32' ? fs.constants.F_OK : fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function newSessionId(): string {
  return `vscode-${Date.now().toString(36)}-${Math.floor(Math.random() * 0xffffffff).toString(36)}`;
}

class Codehearth implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private connection: ConnectionState = 'stopped';
  private status: ServerStatus | undefined;
  private rawStatus: unknown;
  private pushesSeen = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private starting: Promise<void> | undefined;
  private readonly output: vscode.LogOutputChannel;
  private readonly statusItem: vscode.StatusBarItem;
  private readonly streams = new StreamRouter();
  private readonly panel: CodehearthPanel;
  private readonly activeStreams = new Set<string>();
  private readonly clientDisposables: vscode.Disposable[] = [];
  private chatSession = newSessionId();
  private chatSessionUsed = false;
  private pendingAttachment: { attachment: Attachment; label: string } | undefined;

  constructor() {
    this.output = vscode.window.createOutputChannel('codehearth', { log: true });
    this.statusItem = vscode.window.createStatusBarItem('codehearth.status', vscode.StatusBarAlignment.Right, 100);
    this.statusItem.name = 'codehearth';
    this.statusItem.command = 'codehearth.showStatus';
    this.panel = new CodehearthPanel({
      onSend: (text) => void this.sendChat(text),
      onStop: () => void this.stopStreams(),
      onNewChat: () => void this.newChat(),
      onDetach: () => this.setAttachment(undefined),
    });
    this.renderStatus();
    this.statusItem.show();
  }

  private log(line: string): void {
    this.output.info(`[client] ${line}`);
  }

  // ---- server lifecycle --------------------------------------------------

  async start(): Promise<void> {
    if (this.starting) {
      return this.starting;
    }
    this.starting = this.doStart().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async doStart(): Promise<void> {
    const { settings, warnings } = currentSettings();
    for (const w of warnings) {
      this.log(`setting ignored: ${w}`);
    }
    if (warnings.length > 0) {
      void vscode.window.showWarningMessage(`codehearth: ${warnings.join('; ')}`);
    }
    const env = pathEnv();
    const launch = serverLaunch(settings, env);
    if (resolveCommand(launch.command, process.env.PATH, isExecutable) === undefined) {
      // Say it once, with the fix, instead of letting the spawn fail.
      this.client = undefined;
      this.setConnection('failed');
      this.log(`server command not found: ${launch.command}`);
      void vscode.window
        .showErrorMessage(
          `codehearth: "${launch.command}" was not found. Install the codehearth server or set codehearth.serverCommand to the codehearth executable, e.g. ~/.venv/bin/codehearth.`,
          'Open Settings',
          'Show Log',
        )
        .then((choice) => {
          if (choice === 'Open Settings') {
            void vscode.commands.executeCommand('workbench.action.openSettings', 'codehearth.serverCommand');
          } else if (choice === 'Show Log') {
            this.output.show(true);
          }
        });
      return;
    }
    const serverOptions: ServerOptions = {
      command: launch.command,
      args: launch.args,
      // No `transport`: TransportKind.stdio would append `--stdio`, which `serve` rejects;
      // without one the client talks over stdio all the same.
      options: { cwd: env.workspaceFolder, env: { ...process.env } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: documentSelector(settings),
      initializationOptions: toInitializationOptions(settings, env),
      outputChannel: this.output,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      middleware: {
        provideInlineCompletionItems: (document, position, context, token, next) => {
          if (!currentSettings().settings.completion.enabled) {
            return null;
          }
          return next(document, position, context, token);
        },
      },
    };
    this.log(`starting: ${launch.command} ${launch.args.join(' ')}`);
    const client = new LanguageClient('codehearth', 'codehearth', serverOptions, clientOptions);
    this.client = client;
    this.status = undefined;
    this.rawStatus = undefined;
    this.pushesSeen = false;
    this.setConnection('starting');
    this.clientDisposables.push(
      client.onDidChangeState((e) => {
        if (client !== this.client) {
          return;
        }
        if (e.newState === State.Running) {
          this.setConnection('running');
        } else if (e.newState === State.Stopped && this.connection === 'running') {
          this.setConnection('stopped');
        }
      }),
      client.onNotification(STATUS_NOTIFICATION, (params: unknown) => {
        if (client === this.client) {
          this.pushesSeen = true;
          this.setStatus(params);
        }
      }),
      client.onNotification(STREAM_NOTIFICATION, (params: unknown) => this.streams.notification(params)),
    );
    try {
      await client.start();
    } catch (err) {
      if (client !== this.client) {
        return;
      }
      // vscode-languageclient has already shown the error (with "Go to output").
      this.setConnection('failed');
      this.log(`could not start the server: ${errorMessage(err)}`);
      return;
    }
    if (client !== this.client) {
      return;
    }
    this.setConnection('running');
    await this.refreshStatus();
    this.schedulePoll();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.clearPoll();
    for (const d of this.clientDisposables.splice(0)) {
      d.dispose();
    }
    if (client) {
      try {
        if (client.isRunning()) {
          await client.stop(3000);
        }
      } catch (err) {
        this.log(`stop: ${errorMessage(err)}`);
      }
      try {
        await client.dispose(1000);
      } catch {
        // already stopped
      }
    }
    this.setConnection('stopped');
  }

  async restart(): Promise<void> {
    this.log('restarting the server');
    await this.stop();
    this.chatSession = newSessionId();
    this.chatSessionUsed = false;
    await this.start();
  }

  onConfigurationChanged(e: vscode.ConfigurationChangeEvent): void {
    if (!e.affectsConfiguration('codehearth')) {
      return;
    }
    if (needsRestart((section) => e.affectsConfiguration(section))) {
      if (this.restartTimer) {
        clearTimeout(this.restartTimer);
      }
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        this.log('settings changed: restarting the server');
        void this.restart();
      }, 750);
    }
  }

  // ---- status -------------------------------------------------------------

  private setConnection(c: ConnectionState): void {
    this.connection = c;
    this.renderStatus();
  }

  private setStatus(raw: unknown): void {
    const parsed = parseStatus(raw);
    if (parsed) {
      this.rawStatus = raw;
      this.status = parsed;
      this.renderStatus();
    }
  }

  private renderStatus(): void {
    const status = this.connection === 'running' ? this.status : undefined;
    const view = statusBarView(status, this.connection);
    this.statusItem.text = view.text;
    const tooltip = new vscode.MarkdownString(statusTooltipMarkdown(status, this.connection));
    this.statusItem.tooltip = tooltip;
    this.statusItem.backgroundColor =
      view.severity === 'error'
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : view.severity === 'warning'
          ? new vscode.ThemeColor('statusBarItem.warningBackground')
          : undefined;
  }

  private async refreshStatus(): Promise<void> {
    const client = this.client;
    if (!client || !client.isRunning()) {
      return;
    }
    try {
      const result = await client.sendRequest(ExecuteCommandRequest.type, {
        command: SERVER_COMMANDS.status,
        arguments: [],
      });
      if (client === this.client) {
        this.setStatus(result);
      }
    } catch (err) {
      this.log(`codehearth.status failed: ${errorMessage(err)}`);
    }
  }

  /**
   * Pushes keep the item current; until the first push arrives (a server without
   * `codehearth/status`), ask now and then: often while loading, rarely after.
   */
  private schedulePoll(): void {
    this.clearPoll();
    if (this.pushesSeen || !this.client) {
      return;
    }
    const s = this.status?.state;
    const delay = s === undefined || s === 'loading' || s === 'downloading' ? 2000 : 15000;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      void this.refreshStatus().then(() => this.schedulePoll());
    }, delay);
  }

  private clearPoll(): void {
    if (this.pollTimer) {
      clearTimeout(this.pollTimer);
      this.pollTimer = undefined;
    }
  }

  async showStatus(): Promise<void> {
    await this.refreshStatus();
    type Item = vscode.QuickPickItem & { action?: () => void | Promise<void> };
    const view = statusBarView(this.connection === 'running' ? this.status : undefined, this.connection);
    const items: Item[] = [
      { label: '$(debug-restart) Restart Server', action: () => this.restart() },
      { label: '$(output) Show Server Log', action: () => this.output.show(true) },
      {
        label: '$(copy) Copy Status as JSON',
        action: async () => {
          await vscode.env.clipboard.writeText(JSON.stringify(this.rawStatus ?? null, null, 2));
        },
      },
      {
        label: '$(gear) Open Settings',
        action: () => void vscode.commands.executeCommand('workbench.action.openSettings', 'codehearth'),
      },
      { label: 'Status', kind: vscode.QuickPickItemKind.Separator },
    ];
    if (this.connection !== 'running') {
      items.push({ label: 'Server', description: this.connection });
    }
    for (const [label, value] of statusRows(this.connection === 'running' ? this.status : undefined)) {
      items.push({ label, description: value });
    }
    const picked = await vscode.window.showQuickPick(items, {
      title: `codehearth — ${view.text.replace(/\$\([^)]*\)\s*/g, '')}`,
      placeHolder: 'Restart the server or see the status',
      matchOnDescription: true,
    });
    if (picked?.action) {
      await picked.action();
    }
  }

  // ---- requests -------------------------------------------------------------

  /** The running client, or undefined after telling the user why not. */
  private runningClient(): LanguageClient | undefined {
    if (this.client && this.client.isRunning()) {
      return this.client;
    }
    void vscode.window
      .showErrorMessage('codehearth: the server is not running.', 'Restart Server', 'Show Log')
      .then((choice) => {
        if (choice === 'Restart Server') {
          void this.restart();
        } else if (choice === 'Show Log') {
          this.output.show(true);
        }
      });
    return undefined;
  }

  /** The tracked active editor and a running client, with what commands need of them. */
  private commandTarget(what: string) {
    const editor = this.trackedEditor(what);
    const client = editor && this.runningClient();
    if (!editor || !client) {
      return undefined;
    }
    const doc = editor.document;
    const uri = client.code2ProtocolConverter.asUri(doc.uri);
    const lineLength = (n: number): number => doc.lineAt(n).text.length;
    return { editor, client, doc, uri, lineLength };
  }

  /** The active editor, if its document is one the server tracks. */
  private trackedEditor(what: string): vscode.TextEditor | undefined {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showInformationMessage(`codehearth: open a file to ${what}.`);
      return undefined;
    }
    const selector = documentSelector(currentSettings().settings);
    if (vscode.languages.match(selector, editor.document) === 0) {
      void vscode.window.showInformationMessage(
        `codehearth: ${editor.document.languageId} documents are not sent to the server (see codehearth.languages).`,
      );
      return undefined;
    }
    return editor;
  }

  /**
   * Runs one streamed server command: progress on a fresh workDoneToken (also the
   * streamId, so `codehearth.cancel` can stop it), `onText` called with the text so far.
   */
  private async streamed(
    client: LanguageClient,
    command: string,
    build: (streamId: string) => object,
    onText: (s: StreamState) => void,
  ): Promise<unknown> {
    const streamId = newStreamId(command.replace('codehearth.', ''));
    this.streams.open(streamId, onText);
    this.activeStreams.add(streamId);
    this.panel.setBusy(true);
    const progress = client.onProgress(WorkDoneProgress.type, streamId, (value) => this.streams.progress(streamId, value));
    try {
      return await client.sendRequest(ExecuteCommandRequest.type, {
        command,
        arguments: [build(streamId)],
        workDoneToken: streamId,
      });
    } finally {
      progress.dispose();
      this.streams.close(streamId);
      this.activeStreams.delete(streamId);
      this.panel.setBusy(this.activeStreams.size > 0);
    }
  }

  private async stopStreams(): Promise<void> {
    const client = this.client;
    if (!client || !client.isRunning()) {
      return;
    }
    for (const streamId of [...this.activeStreams]) {
      try {
        await client.sendRequest(ExecuteCommandRequest.type, {
          command: SERVER_COMMANDS.cancel,
          arguments: [cancelArgs({ streamId })],
        });
      } catch (err) {
        this.log(`cancel failed: ${errorMessage(err)}`);
      }
    }
  }

  /** Streams text into a panel entry, at most every 60 ms. */
  private streamInto(entryId: string): { onText: (s: StreamState) => void; flush: () => void } {
    let latest = '';
    let timer: NodeJS.Timeout | undefined;
    const render = (): void => {
      timer = undefined;
      this.panel.update(entryId, renderMarkdown(latest), true);
    };
    return {
      onText: (s) => {
        latest = s.text;
        if (!timer) {
          timer = setTimeout(render, 60);
        }
      },
      flush: () => {
        if (timer) {
          clearTimeout(timer);
          timer = undefined;
        }
      },
    };
  }

  async explainSelection(): Promise<void> {
    const target = this.commandTarget('explain code');
    if (!target) {
      return;
    }
    const { editor, client, doc, uri, lineLength } = target;
    const { settings } = currentSettings();
    const preview = explainArgs(uri, editor.selection, { lineLength });
    const name = vscode.workspace.asRelativePath(doc.uri);
    const title = editor.selection.isEmpty
      ? `Explain ${name}, ${lineSpan(preview.range)} (the definition around the cursor)`
      : `Explain ${name}, ${lineSpan(preview.range)}`;
    this.panel.show(true);
    this.panel.add('user', '', title);
    const entry = this.panel.add('assistant', '', undefined, true);
    const sink = this.streamInto(entry);
    this.log(`explain: ${lineSpan(preview.range)}`);
    try {
      const raw = await this.streamed(
        client,
        SERVER_COMMANDS.explain,
        (streamId) => explainArgs(uri, editor.selection, { streamId, lineLength, sampling: samplingFor('explain', settings) }),
        sink.onText,
      );
      sink.flush();
      const result = parseExplainResult(raw);
      this.panel.update(entry, renderMarkdown(result.markdown + replyNote(result)), false);
    } catch (err) {
      sink.flush();
      this.log(`explain failed: ${errorMessage(err)}`);
      this.panel.update(entry, escapeHtml(errorMessage(err)), false, 'error');
    }
  }

  private setAttachment(a: { attachment: Attachment; label: string } | undefined): void {
    this.pendingAttachment = a;
    this.panel.setAttachment(a?.label);
  }

  /** Codehearth: Chat — opens the panel; a selection (if any) is attached to the next message. */
  openChat(): void {
    const editor = vscode.window.activeTextEditor;
    const client = this.client;
    if (editor && client && !editor.selection.isEmpty) {
      const selector = documentSelector(currentSettings().settings);
      if (vscode.languages.match(selector, editor.document) > 0) {
        const doc = editor.document;
        const attachment = attachmentFor(client.code2ProtocolConverter.asUri(doc.uri), editor.selection, (n) =>
          doc.lineAt(n).text.length,
        );
        this.setAttachment({
          attachment,
          label: `${vscode.workspace.asRelativePath(doc.uri)}, ${lineSpan(attachment.range)}`,
        });
      }
    }
    this.panel.show(false);
    this.panel.focusInput();
  }

  private async sendChat(message: string): Promise<void> {
    const client = this.runningClient();
    if (!client) {
      return;
    }
    const { settings } = currentSettings();
    const attached = this.pendingAttachment;
    this.setAttachment(undefined);
    const userHtml = renderMarkdown(message);
    this.panel.add('user', userHtml, attached ? `You (attached ${attached.label})` : 'You');
    const entry = this.panel.add('assistant', '', undefined, true);
    const sink = this.streamInto(entry);
    this.log(`chat: message of ${message.length} characters${attached ? ' with an attachment' : ''}`);
    const session = this.chatSession;
    this.chatSessionUsed = true;
    try {
      const raw = await this.streamed(
        client,
        SERVER_COMMANDS.chat,
        (streamId) =>
          chatArgs(message, {
            session,
            attachment: attached?.attachment,
            streamId,
            sampling: samplingFor('chat', settings),
          }),
        sink.onText,
      );
      sink.flush();
      const result = parseChatResult(raw);
      this.panel.update(entry, renderMarkdown(result.reply + replyNote(result)), false);
    } catch (err) {
      sink.flush();
      this.log(`chat failed: ${errorMessage(err)}`);
      this.panel.update(entry, escapeHtml(errorMessage(err)), false, 'error');
    }
  }

  async newChat(): Promise<void> {
    const old = this.chatSession;
    const used = this.chatSessionUsed;
    this.chatSession = newSessionId();
    this.chatSessionUsed = false;
    this.setAttachment(undefined);
    this.panel.clear();
    const client = this.client;
    if (used && client && client.isRunning()) {
      try {
        await client.sendRequest(ExecuteCommandRequest.type, {
          command: SERVER_COMMANDS.chatReset,
          arguments: [{ session: old }],
        });
      } catch (err) {
        this.log(`chat.reset failed: ${errorMessage(err)}`);
      }
    }
  }

  async reviewFile(): Promise<void> {
    const target = this.commandTarget('review code');
    if (!target) {
      return;
    }
    const { editor, client, doc, uri, lineLength } = target;
    const selection = editor.selection.isEmpty ? undefined : editor.selection;
    const { settings } = currentSettings();
    const name = vscode.workspace.asRelativePath(doc.uri);
    const range = reviewArgs(uri, selection, { lineLength }).range;
    this.log(`review: ${lineSpan(range)}`);
    await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: `codehearth: reviewing ${name}${range ? `, ${lineSpan(range)}` : ''}`,
        cancellable: true,
      },
      async (_progress, token) => {
        let streamId: string | undefined;
        const cancel = token.onCancellationRequested(() => {
          if (streamId) {
            void client
              .sendRequest(ExecuteCommandRequest.type, {
                command: SERVER_COMMANDS.cancel,
                arguments: [cancelArgs({ streamId })],
              })
              .catch((err: unknown) => this.log(`cancel failed: ${errorMessage(err)}`));
          }
        });
        try {
          const raw = await this.streamed(
            client,
            SERVER_COMMANDS.review,
            (id) => {
              streamId = id;
              return reviewArgs(uri, selection, { streamId: id, lineLength, sampling: samplingFor('review', settings) });
            },
            () => undefined,
          );
          const result = parseReviewResult(raw);
          const summary = `codehearth: ${reviewSummary(result, name, range)}`;
          if (result.findings.length > 0) {
            void vscode.window.showInformationMessage(summary, 'Show Problems').then((choice) => {
              if (choice === 'Show Problems') {
                void vscode.commands.executeCommand('workbench.actions.view.problems');
              }
            });
          } else {
            void vscode.window.showInformationMessage(summary);
          }
        } catch (err) {
          this.log(`review failed: ${errorMessage(err)}`);
          void vscode.window.showErrorMessage(`codehearth review: ${errorMessage(err)}`);
        } finally {
          cancel.dispose();
        }
      },
    );
  }

  showLog(): void {
    this.output.show(true);
  }

  dispose(): void {
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
    }
    this.clearPoll();
    this.panel.dispose();
    this.statusItem.dispose();
    this.output.dispose();
  }
}

let instance: Codehearth | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const ch = new Codehearth();
  instance = ch;
  context.subscriptions.push(
    ch,
    vscode.commands.registerCommand('codehearth.explainSelection', () => ch.explainSelection()),
    vscode.commands.registerCommand('codehearth.openChat', () => ch.openChat()),
    vscode.commands.registerCommand('codehearth.newChat', () => ch.newChat()),
    vscode.commands.registerCommand('codehearth.reviewFile', () => ch.reviewFile()),
    vscode.commands.registerCommand('codehearth.showStatus', () => ch.showStatus()),
    vscode.commands.registerCommand('codehearth.restartServer', () => ch.restart()),
    vscode.commands.registerCommand('codehearth.showLog', () => ch.showLog()),
    vscode.workspace.onDidChangeConfiguration((e) => ch.onConfigurationChanged(e)),
  );
  // Do not hold up activation on the server: the model loads in the background.
  void ch.start();
}

export async function deactivate(): Promise<void> {
  const ch = instance;
  instance = undefined;
  if (ch) {
    await ch.stop();
  }
}
