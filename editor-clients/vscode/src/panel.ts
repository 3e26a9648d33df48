/** The codehearth webview panel: explain results and the chat, streamed. */

import * as vscode from 'vscode';
import { EntryRole, makeNonce, PageMessage, PanelMessage, panelHtml, parsePageMessage } from './html';

interface Entry {
  id: string;
  role: EntryRole;
  title?: string;
  html: string;
  pending: boolean;
}

export interface PanelHandlers {
  onSend(text: string): void;
  onStop(): void;
  onNewChat(): void;
  onDetach(): void;
}

export class CodehearthPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private ready = false;
  private entries: Entry[] = [];
  private busy = false;
  private attachment: string | undefined;
  private nextId = 0;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly handlers: PanelHandlers) {}

  /** Opens the panel (beside the editor) or brings it forward. */
  show(preserveFocus: boolean): void {
    if (this.panel) {
      this.panel.reveal(undefined, preserveFocus);
      return;
    }
    const panel = vscode.window.createWebviewPanel(
      'codehearth.panel',
      'codehearth',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus },
      { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [] },
    );
    this.panel = panel;
    this.ready = false;
    panel.webview.html = panelHtml(makeNonce(), panel.webview.cspSource);
    panel.webview.onDidReceiveMessage((raw) => this.receive(parsePageMessage(raw)), undefined, this.disposables);
    panel.onDidDispose(
      () => {
        this.panel = undefined;
        this.ready = false;
      },
      undefined,
      this.disposables,
    );
  }

  focusInput(): void {
    this.post({ type: 'focus' });
  }

  add(role: EntryRole, html: string, title?: string, pending = false): string {
    const entry: Entry = { id: String(this.nextId++), role, html, title, pending };
    this.entries.push(entry);
    if (this.entries.length > 500) {
      this.entries.splice(0, this.entries.length - 500);
    }
    this.postEntry(entry);
    return entry.id;
  }

  update(id: string, html: string, pending: boolean, role?: EntryRole): void {
    const entry = this.entries.find((e) => e.id === id);
    if (!entry) {
      return;
    }
    entry.html = html;
    if (role !== undefined) {
      entry.role = role;
    }
    entry.pending = pending;
    this.postEntry(entry);
  }

  clear(): void {
    this.entries = [];
    this.post({ type: 'clear' });
  }

  setBusy(busy: boolean): void {
    this.busy = busy;
    this.post({ type: 'busy', busy });
  }

  setAttachment(label: string | undefined): void {
    this.attachment = label;
    this.post({ type: 'attachment', label });
  }

  dispose(): void {
    this.panel?.dispose();
    for (const d of this.disposables) {
      d.dispose();
    }
  }

  private postEntry(e: Entry): void {
    this.post({ type: 'entry', id: e.id, role: e.role, title: e.title, html: e.html, pending: e.pending });
  }

  private post(message: PanelMessage): void {
    if (this.panel && this.ready) {
      void this.panel.webview.postMessage(message);
    }
  }

  private receive(m: PageMessage | undefined): void {
    if (!m) {
      return;
    }
    switch (m.type) {
      case 'ready':
        // The page (re)loaded: send it everything so far.
        this.ready = true;
        for (const e of this.entries) {
          this.postEntry(e);
        }
        this.post({ type: 'busy', busy: this.busy });
        this.post({ type: 'attachment', label: this.attachment });
        break;
      case 'send':
        this.handlers.onSend(m.text);
        break;
      case 'stop':
        this.handlers.onStop();
        break;
      case 'newChat':
        this.handlers.onNewChat();
        break;
      case 'detach':
        this.handlers.onDetach();
        break;
    }
  }
}
