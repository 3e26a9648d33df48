/**
 * What explain, chat and review share: the codehearth panel, the editor they act on, and
 * streamed server commands (progress on a fresh workDoneToken, routed to the request,
 * stoppable with `codehearth.cancel`). explain.ts, chat.ts and review.ts hold the
 * commands themselves.
 */

import * as vscode from 'vscode';
import { ExecuteCommandRequest, LanguageClient, WorkDoneProgress } from 'vscode-languageclient/node';
import type { ServerClient } from './client';
import { cancelArgs, errorMessage, newStreamId, SERVER_COMMANDS } from './commands';
import { documentSelector } from './config';
import { ClientLog, currentSettings } from './env';
import { renderMarkdown } from './markdown';
import { CodehearthPanel } from './panel';
import { StreamRouter, StreamState } from './stream';

/** What the panel's chat controls do (chat.ts). */
export interface ChatControls {
  send(text: string): void;
  newChat(): void;
  detach(): void;
}

/** The editor a command acts on, with its running client and what the arguments need. */
export interface CommandTarget {
  editor: vscode.TextEditor;
  client: LanguageClient;
  doc: vscode.TextDocument;
  uri: string;
  lineLength: (line: number) => number;
}

/** Streams text into a panel entry; `flush` drops a render still waiting. */
export interface EntrySink {
  onText: (s: StreamState) => void;
  flush: () => void;
}

const RENDER_EVERY_MS = 60;

export class Assist implements vscode.Disposable {
  readonly panel: CodehearthPanel;
  private chat: ChatControls | undefined;
  private readonly streams = new StreamRouter();
  private readonly activeStreams = new Set<string>();

  constructor(
    readonly server: ServerClient,
    readonly log: ClientLog,
  ) {
    this.panel = new CodehearthPanel({
      onSend: (text) => this.chat?.send(text),
      onStop: () => void this.stopStreams(),
      onNewChat: () => this.chat?.newChat(),
      onDetach: () => this.chat?.detach(),
    });
    server.listen({ streamNotified: (params) => this.streams.notification(params) });
  }

  /** The chat wires the panel's input, Stop aside, to itself. */
  setChat(chat: ChatControls): void {
    this.chat = chat;
  }

  /** Whether the server gets this document (codehearth.languages). */
  tracks(doc: vscode.TextDocument): boolean {
    return vscode.languages.match(documentSelector(currentSettings().settings), doc) > 0;
  }

  /** The tracked active editor and a running client, or undefined after saying why not. */
  target(what: string): CommandTarget | undefined {
    const editor = this.trackedEditor(what);
    const client = editor && this.server.runningOrSay();
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
    if (!this.tracks(editor.document)) {
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
  async streamed(
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

  /** Asks the server to stop one stream; a failure is only logged. */
  async cancel(client: LanguageClient, streamId: string): Promise<void> {
    try {
      await client.sendRequest(ExecuteCommandRequest.type, {
        command: SERVER_COMMANDS.cancel,
        arguments: [cancelArgs({ streamId })],
      });
    } catch (err) {
      this.log.line(`cancel failed: ${errorMessage(err)}`);
    }
  }

  /** The panel's Stop: every stream still running. */
  async stopStreams(): Promise<void> {
    const client = this.server.running();
    if (!client) {
      return;
    }
    for (const streamId of [...this.activeStreams]) {
      await this.cancel(client, streamId);
    }
  }

  /** Streams text into a panel entry, at most every RENDER_EVERY_MS. */
  streamInto(entryId: string): EntrySink {
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
          timer = setTimeout(render, RENDER_EVERY_MS);
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

  dispose(): void {
    this.panel.dispose();
  }
}
