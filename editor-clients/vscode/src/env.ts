/**
 * What every feature reads from VS Code and the machine: the settings as they are now,
 * the paths `~` and `${workspaceFolder}` expand to, whether a file can be run, and the
 * *codehearth* output channel.
 *
 * Never logs user code: only command names, sizes and server messages go to the log.
 */

import * as fs from 'fs';
import * as os from 'os';
import * as vscode from 'vscode';
import { PathEnv, readSettings, Settings } from './config';

/** The settings now (read each time: most apply at once, without a restart). */
export function currentSettings(): { settings: Settings; warnings: string[] } {
  const config = vscode.workspace.getConfiguration('codehearth');
  return readSettings((key) => config.get(key));
}

export function pathEnv(): PathEnv {
  return { home: os.homedir(), workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath };
}

export function isExecutable(file: string): boolean {
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

/** The *codehearth* output channel: the server's log, and the client's lines marked `[client]`. */
export class ClientLog implements vscode.Disposable {
  readonly channel: vscode.LogOutputChannel;

  constructor() {
    this.channel = vscode.window.createOutputChannel('codehearth', { log: true });
  }

  line(text: string): void {
    this.channel.info(`[client] ${text}`);
  }

  show(): void {
    this.channel.show(true);
  }

  dispose(): void {
    this.channel.dispose();
  }
}
