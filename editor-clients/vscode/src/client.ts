/**
 * The language client's life: `codehearth serve` started over stdio with
 * vscode-languageclient, its state followed, stopped and restarted (also by itself when a
 * setting that needs a restart changes). The other features hear of it through a
 * ClientListener and ask for the running client here.
 */

import * as vscode from 'vscode';
import {
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
  State,
} from 'vscode-languageclient/node';
import { errorMessage } from './commands';
import {
  documentSelector,
  needsRestart,
  PathEnv,
  resolveCommand,
  serverLaunch,
  ServerLaunch,
  Settings,
  toInitializationOptions,
} from './config';
import { ClientLog, currentSettings, isExecutable, pathEnv } from './env';
import { inlineMiddleware } from './inline';
import type { ConnectionState } from './status';

const STATUS_NOTIFICATION = 'codehearth/status';
const STREAM_NOTIFICATION = 'codehearth/stream';
const RESTART_DEBOUNCE_MS = 750;

/** What a feature may hear of the client's life; every hook is optional. */
export interface ClientListener {
  /** The connection state changed. */
  connectionChanged?(state: ConnectionState): void;
  /** A new client was created: what the last server said no longer holds. */
  clientCreated?(): void;
  /** A `codehearth/status` push from the current client. */
  statusPushed?(params: unknown): void;
  /** A `codehearth/stream` notification. */
  streamNotified?(params: unknown): void;
  /** The client is running; `start()` waits for this. */
  started?(client: LanguageClient): Promise<void>;
  /** The client is being stopped. */
  stopping?(): void;
  /** A restart was asked for: per-server state (the chat session) is forgotten. */
  restarting?(): void;
}

/** How the server is spawned and what the client sends it. */
function clientConfig(
  launch: ServerLaunch,
  settings: Settings,
  env: PathEnv,
  output: vscode.LogOutputChannel,
): { server: ServerOptions; client: LanguageClientOptions } {
  const server: ServerOptions = {
    command: launch.command,
    args: launch.args,
    // No `transport`: TransportKind.stdio would append `--stdio`, which `serve` rejects;
    // without one the client talks over stdio all the same.
    options: { cwd: env.workspaceFolder, env: { ...process.env } },
  };
  const client: LanguageClientOptions = {
    documentSelector: documentSelector(settings),
    initializationOptions: toInitializationOptions(settings, env),
    outputChannel: output,
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    middleware: inlineMiddleware(() => currentSettings().settings.completion.enabled),
  };
  return { server, client };
}

export class ServerClient implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private connection: ConnectionState = 'stopped';
  private starting: Promise<void> | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly listeners: ClientListener[] = [];
  private readonly clientDisposables: vscode.Disposable[] = [];

  constructor(private readonly log: ClientLog) {}

  listen(listener: ClientListener): void {
    this.listeners.push(listener);
  }

  get state(): ConnectionState {
    return this.connection;
  }

  /** The current client, running or not (undefined when none was started). */
  current(): LanguageClient | undefined {
    return this.client;
  }

  /** The current client if it is running. */
  running(): LanguageClient | undefined {
    return this.client && this.client.isRunning() ? this.client : undefined;
  }

  /** The running client, or undefined after telling the user why not. */
  runningOrSay(): LanguageClient | undefined {
    const client = this.running();
    if (client) {
      return client;
    }
    void vscode.window
      .showErrorMessage('codehearth: the server is not running.', 'Restart Server', 'Show Log')
      .then((choice) => {
        if (choice === 'Restart Server') {
          void this.restart();
        } else if (choice === 'Show Log') {
          this.log.show();
        }
      });
    return undefined;
  }

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
    const settings = this.readSettings();
    const env = pathEnv();
    const launch = serverLaunch(settings, env);
    if (resolveCommand(launch.command, process.env.PATH, isExecutable) === undefined) {
      this.reportMissingCommand(launch.command);
      return;
    }
    const config = clientConfig(launch, settings, env, this.log.channel);
    this.log.line(`starting: ${launch.command} ${launch.args.join(' ')}`);
    const client = new LanguageClient('codehearth', 'codehearth', config.server, config.client);
    this.client = client;
    this.emit((l) => l.clientCreated?.());
    this.setConnection('starting');
    this.follow(client);
    try {
      await client.start();
    } catch (err) {
      if (client !== this.client) {
        return;
      }
      // vscode-languageclient has already shown the error (with "Go to output").
      this.setConnection('failed');
      this.log.line(`could not start the server: ${errorMessage(err)}`);
      return;
    }
    if (client !== this.client) {
      return;
    }
    this.setConnection('running');
    for (const l of this.listeners) {
      await l.started?.(client);
    }
  }

  /** The settings, with the values that were ignored said once in the log and a warning. */
  private readSettings(): Settings {
    const { settings, warnings } = currentSettings();
    for (const w of warnings) {
      this.log.line(`setting ignored: ${w}`);
    }
    if (warnings.length > 0) {
      void vscode.window.showWarningMessage(`codehearth: ${warnings.join('; ')}`);
    }
    return settings;
  }

  /** Says it once, with the fix, instead of letting the spawn fail. */
  private reportMissingCommand(command: string): void {
    this.client = undefined;
    this.setConnection('failed');
    this.log.line(`server command not found: ${command}`);
    void vscode.window
      .showErrorMessage(
        `codehearth: "${command}" was not found. Install the codehearth server or set codehearth.serverCommand to the codehearth executable, e.g. ~/.venv/bin/codehearth.`,
        'Open Settings',
        'Show Log',
      )
      .then((choice) => {
        if (choice === 'Open Settings') {
          void vscode.commands.executeCommand('workbench.action.openSettings', 'codehearth.serverCommand');
        } else if (choice === 'Show Log') {
          this.log.show();
        }
      });
  }

  /** Follows one client's state and notifications while it is the current one. */
  private follow(client: LanguageClient): void {
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
          this.emit((l) => l.statusPushed?.(params));
        }
      }),
      client.onNotification(STREAM_NOTIFICATION, (params: unknown) => this.emit((l) => l.streamNotified?.(params))),
    );
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.emit((l) => l.stopping?.());
    for (const d of this.clientDisposables.splice(0)) {
      d.dispose();
    }
    if (client) {
      try {
        if (client.isRunning()) {
          await client.stop(3000);
        }
      } catch (err) {
        this.log.line(`stop: ${errorMessage(err)}`);
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
    this.log.line('restarting the server');
    await this.stop();
    this.emit((l) => l.restarting?.());
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
        this.log.line('settings changed: restarting the server');
        void this.restart();
      }, RESTART_DEBOUNCE_MS);
    }
  }

  dispose(): void {
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
    }
  }

  private setConnection(c: ConnectionState): void {
    this.connection = c;
    this.emit((l) => l.connectionChanged?.(c));
  }

  private emit(call: (l: ClientListener) => void): void {
    for (const l of this.listeners) {
      call(l);
    }
  }
}
