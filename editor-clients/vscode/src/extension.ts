/**
 * The extension's entry point: composes the features and registers their commands.
 *
 * - client.ts: `codehearth serve` started with vscode-languageclient, restarted on demand
 *   or when a setting needs it; inline.ts: the inline completion middleware it installs.
 * - assist.ts with explain.ts, chat.ts, review.ts: the assist commands and the panel.
 * - statusItem.ts: the status-bar item and *Show Status*.
 *
 * Never logs user code: only command names, sizes and server messages go to the log.
 */

import * as vscode from 'vscode';
import { Assist } from './assist';
import { Chat } from './chat';
import { ServerClient } from './client';
import { ClientLog } from './env';
import { explainSelection } from './explain';
import { reviewFile } from './review';
import { StatusItem } from './statusItem';

let server: ServerClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const log = new ClientLog();
  const client = new ServerClient(log);
  const status = new StatusItem(client, log);
  const assist = new Assist(client, log);
  const chat = new Chat(assist);
  server = client;
  context.subscriptions.push(
    client,
    assist,
    status,
    log,
    vscode.commands.registerCommand('codehearth.explainSelection', () => explainSelection(assist)),
    vscode.commands.registerCommand('codehearth.openChat', () => chat.open()),
    vscode.commands.registerCommand('codehearth.newChat', () => chat.startNewChat()),
    vscode.commands.registerCommand('codehearth.reviewFile', () => reviewFile(assist)),
    vscode.commands.registerCommand('codehearth.showStatus', () => status.showStatus()),
    vscode.commands.registerCommand('codehearth.restartServer', () => client.restart()),
    vscode.commands.registerCommand('codehearth.showLog', () => log.show()),
    vscode.workspace.onDidChangeConfiguration((e) => client.onConfigurationChanged(e)),
  );
  // Do not hold up activation on the server: the model loads in the background.
  void client.start();
}

export async function deactivate(): Promise<void> {
  const client = server;
  server = undefined;
  if (client) {
    await client.stop();
  }
}
