/**
 * Codehearth: Chat and New Chat — one conversation per server session, kept by the server
 * under a session id; a selection in the editor is attached to the next message.
 */

import * as vscode from 'vscode';
import { ExecuteCommandRequest } from 'vscode-languageclient/node';
import type { Assist, ChatControls } from './assist';
import { attachmentFor, Attachment, chatArgs, errorMessage, lineSpan, parseChatResult, replyNote, SERVER_COMMANDS } from './commands';
import { samplingFor } from './config';
import { currentSettings } from './env';
import { escapeHtml, renderMarkdown } from './markdown';

interface PendingAttachment {
  attachment: Attachment;
  label: string;
}

function newSessionId(): string {
  return `vscode-${Date.now().toString(36)}-${Math.floor(Math.random() * 0xffffffff).toString(36)}`;
}

export class Chat implements ChatControls {
  private session = newSessionId();
  private sessionUsed = false;
  private pending: PendingAttachment | undefined;

  constructor(private readonly assist: Assist) {
    assist.setChat(this);
    // A restarted server has forgotten the conversation: start a new session.
    assist.server.listen({ restarting: () => this.forgetSession() });
  }

  private forgetSession(): void {
    this.session = newSessionId();
    this.sessionUsed = false;
  }

  detach(): void {
    this.setAttachment(undefined);
  }

  private setAttachment(a: PendingAttachment | undefined): void {
    this.pending = a;
    this.assist.panel.setAttachment(a?.label);
  }

  /** Codehearth: Chat — opens the panel; a selection (if any) is attached to the next message. */
  open(): void {
    const editor = vscode.window.activeTextEditor;
    const client = this.assist.server.current();
    if (editor && client && !editor.selection.isEmpty && this.assist.tracks(editor.document)) {
      const doc = editor.document;
      const attachment = attachmentFor(client.code2ProtocolConverter.asUri(doc.uri), editor.selection, (n) =>
        doc.lineAt(n).text.length,
      );
      this.setAttachment({
        attachment,
        label: `${vscode.workspace.asRelativePath(doc.uri)}, ${lineSpan(attachment.range)}`,
      });
    }
    this.assist.panel.show(false);
    this.assist.panel.focusInput();
  }

  send(message: string): void {
    void this.sendMessage(message);
  }

  private async sendMessage(message: string): Promise<void> {
    const assist = this.assist;
    const client = assist.server.runningOrSay();
    if (!client) {
      return;
    }
    const { settings } = currentSettings();
    const attached = this.pending;
    this.setAttachment(undefined);
    assist.panel.add('user', renderMarkdown(message), attached ? `You (attached ${attached.label})` : 'You');
    const entry = assist.panel.add('assistant', '', undefined, true);
    const sink = assist.streamInto(entry);
    assist.log.line(`chat: message of ${message.length} characters${attached ? ' with an attachment' : ''}`);
    const session = this.session;
    this.sessionUsed = true;
    try {
      const raw = await assist.streamed(
        client,
        SERVER_COMMANDS.chat,
        (streamId) =>
          chatArgs(message, { session, attachment: attached?.attachment, streamId, sampling: samplingFor('chat', settings) }),
        sink.onText,
      );
      sink.flush();
      const result = parseChatResult(raw);
      assist.panel.update(entry, renderMarkdown(result.reply + replyNote(result)), false);
    } catch (err) {
      sink.flush();
      assist.log.line(`chat failed: ${errorMessage(err)}`);
      assist.panel.update(entry, escapeHtml(errorMessage(err)), false, 'error');
    }
  }

  newChat(): void {
    void this.startNewChat();
  }

  /** Codehearth: New Chat — a fresh session; the server forgets the old one. */
  async startNewChat(): Promise<void> {
    const old = this.session;
    const used = this.sessionUsed;
    this.forgetSession();
    this.setAttachment(undefined);
    this.assist.panel.clear();
    const client = this.assist.server.running();
    if (used && client) {
      try {
        await client.sendRequest(ExecuteCommandRequest.type, {
          command: SERVER_COMMANDS.chatReset,
          arguments: [{ session: old }],
        });
      } catch (err) {
        this.assist.log.line(`chat.reset failed: ${errorMessage(err)}`);
      }
    }
  }
}
