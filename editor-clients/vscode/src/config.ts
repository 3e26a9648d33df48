/**
 * Settings → how the server is started and the initializationOptions it gets.
 *
 * Pure: no `vscode` import. The glue reads `vscode.workspace.getConfiguration('codehearth')`
 * through a `get(key)` function and hands it to `readSettings`.
 *
 * The server rejects *all* of its initializationOptions when one key is unknown or one
 * value is out of range (extra="forbid", server/codehearth/lsp/options.py), so only
 * known keys with valid values are sent; the rest are dropped with a warning.
 */

export type Multiline = 'auto' | 'never' | 'always';

export interface CompletionSettings {
  enabled: boolean;
  multiline?: Multiline;
  maxTokensSingle?: number;
  maxTokensMulti?: number;
  temperature?: number;
  maxPromptTokens?: number;
  maxLinesBefore?: number;
  maxLinesAfter?: number;
}

export interface Settings {
  serverCommand: string;
  serverArgs: string[];
  model?: string;
  manifest?: string;
  context?: number;
  nGpuLayers?: number;
  nThreads?: number;
  logContent: boolean;
  languages: string[];
  completion: CompletionSettings;
  explainTemperature?: number;
  chatTemperature?: number;
  reviewTemperature?: number;
  replyMaxTokens?: number;
}

/** Reads one setting below `codehearth.` (e.g. "completion.multiline"). */
export type SettingGetter = (key: string) => unknown;

export interface ReadResult {
  settings: Settings;
  /** Values that were ignored, in words (never user code). */
  warnings: string[];
}

interface IntRule {
  min: number;
  max?: number;
}

const INT_RULES: Record<string, IntRule> = {
  context: { min: 256, max: 1_048_576 },
  nGpuLayers: { min: -1 },
  nThreads: { min: 1, max: 1024 },
  'completion.maxTokensSingle': { min: 1, max: 4096 },
  'completion.maxTokensMulti': { min: 1, max: 4096 },
  'completion.maxPromptTokens': { min: 64 },
  'completion.maxLinesBefore': { min: 1 },
  'completion.maxLinesAfter': { min: 0 },
  replyMaxTokens: { min: 1, max: 8192 },
};

const TEMPERATURE_KEYS = [
  'completion.temperature',
  'explain.temperature',
  'chat.temperature',
  'review.temperature',
];

function blank(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
}

/** Reads settings of one kind each, dropping bad values with a warning in words. */
class SettingReader {
  readonly warnings: string[] = [];

  constructor(private readonly get: SettingGetter) {}

  raw(key: string): unknown {
    return this.get(key);
  }

  int(key: string): number | undefined {
    const v = this.get(key);
    if (blank(v)) {
      return undefined;
    }
    const rule = INT_RULES[key];
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.warnings.push(`codehearth.${key} must be a whole number; ignored`);
      return undefined;
    }
    if (rule && (v < rule.min || (rule.max !== undefined && v > rule.max))) {
      const range = rule.max !== undefined ? `${rule.min}–${rule.max}` : `at least ${rule.min}`;
      this.warnings.push(`codehearth.${key} must be ${range}; ${v} ignored`);
      return undefined;
    }
    return v;
  }

  temperature(key: string): number | undefined {
    const v = this.get(key);
    if (blank(v)) {
      return undefined;
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 5) {
      this.warnings.push(`codehearth.${key} must be a number from 0 to 5; ignored`);
      return undefined;
    }
    return v;
  }

  text(key: string): string | undefined {
    const v = this.get(key);
    if (blank(v)) {
      return undefined;
    }
    if (typeof v !== 'string') {
      this.warnings.push(`codehearth.${key} must be a string; ignored`);
      return undefined;
    }
    return v.trim();
  }

  strings(key: string): string[] {
    const v = this.get(key);
    if (blank(v)) {
      return [];
    }
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) {
      this.warnings.push(`codehearth.${key} must be a list of strings; ignored`);
      return [];
    }
    return v as string[];
  }

  multiline(key: string): Multiline | undefined {
    const ml = this.get(key);
    if (ml === 'auto' || ml === 'never' || ml === 'always') {
      return ml;
    }
    if (!blank(ml)) {
      this.warnings.push(`codehearth.${key} must be "auto", "never" or "always"; ignored`);
    }
    return undefined;
  }
}

function readCompletion(r: SettingReader, multiline: Multiline | undefined): CompletionSettings {
  return {
    enabled: r.raw('completion.enabled') !== false,
    multiline,
    maxTokensSingle: r.int('completion.maxTokensSingle'),
    maxTokensMulti: r.int('completion.maxTokensMulti'),
    temperature: r.temperature(TEMPERATURE_KEYS[0]),
    maxPromptTokens: r.int('completion.maxPromptTokens'),
    maxLinesBefore: r.int('completion.maxLinesBefore'),
    maxLinesAfter: r.int('completion.maxLinesAfter'),
  };
}

export function readSettings(get: SettingGetter): ReadResult {
  const r = new SettingReader(get);
  // Read first so that its warning comes first, as it always has.
  const multiline = r.multiline('completion.multiline');
  const settings: Settings = {
    serverCommand: r.text('serverCommand') ?? 'codehearth',
    serverArgs: r.strings('serverArgs'),
    model: r.text('model'),
    manifest: r.text('manifest'),
    context: r.int('context'),
    nGpuLayers: r.int('nGpuLayers'),
    nThreads: r.int('nThreads'),
    logContent: r.raw('logContent') === true,
    languages: r.strings('languages').map((l) => l.trim()).filter((l) => l.length > 0),
    completion: readCompletion(r, multiline),
    explainTemperature: r.temperature(TEMPERATURE_KEYS[1]),
    chatTemperature: r.temperature(TEMPERATURE_KEYS[2]),
    reviewTemperature: r.temperature(TEMPERATURE_KEYS[3]),
    replyMaxTokens: r.int('replyMaxTokens'),
  };
  return { settings, warnings: r.warnings };
}

/** What an environment offers for expanding `~` and `${workspaceFolder}` in paths. */
export interface PathEnv {
  home?: string;
  workspaceFolder?: string;
}

/** `~/x` → home/x, `${workspaceFolder}` → the first workspace folder, `${userHome}` → home. */
export function expandPath(value: string, env: PathEnv): string {
  let out = value;
  if (env.home !== undefined) {
    if (out === '~') {
      out = env.home;
    } else if (out.startsWith('~/') || out.startsWith('~\\')) {
      out = env.home + out.slice(1);
    }
    out = out.split('${userHome}').join(env.home);
  }
  if (env.workspaceFolder !== undefined) {
    out = out.split('${workspaceFolder}').join(env.workspaceFolder);
  }
  return out;
}

export interface ServerLaunch {
  command: string;
  args: string[];
}

/** `codehearth serve [serverArgs…]`, with paths expanded. */
export function serverLaunch(settings: Settings, env: PathEnv = {}): ServerLaunch {
  return {
    command: expandPath(settings.serverCommand, env),
    args: ['serve', ...settings.serverArgs.map((a) => expandPath(a, env))],
  };
}

/** initializationOptions for `initialize`: only the keys the server accepts, camelCase. */
export function toInitializationOptions(settings: Settings, env: PathEnv = {}): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  if (settings.model !== undefined) {
    options.model = settings.model;
  }
  if (settings.manifest !== undefined) {
    options.manifest = expandPath(settings.manifest, env);
  }
  if (settings.context !== undefined) {
    options.context = settings.context;
  }
  if (settings.nGpuLayers !== undefined) {
    options.nGpuLayers = settings.nGpuLayers;
  }
  if (settings.nThreads !== undefined) {
    options.nThreads = settings.nThreads;
  }
  const c = settings.completion;
  const completion: Record<string, unknown> = {};
  const keys = [
    'multiline',
    'maxTokensSingle',
    'maxTokensMulti',
    'temperature',
    'maxPromptTokens',
    'maxLinesBefore',
    'maxLinesAfter',
  ] as const;
  for (const key of keys) {
    if (c[key] !== undefined) {
      completion[key] = c[key];
    }
  }
  if (Object.keys(completion).length > 0) {
    options.completion = completion;
  }
  options.logContent = settings.logContent;
  return options;
}

/** The documents sent to the server: every file / untitled one, or the listed languages. */
export function documentSelector(settings: Settings): Array<{ scheme: string; language?: string }> {
  const schemes = ['file', 'untitled'];
  if (settings.languages.length === 0) {
    return schemes.map((scheme) => ({ scheme }));
  }
  return settings.languages.flatMap((language) => schemes.map((scheme) => ({ scheme, language })));
}

/**
 * Settings that only take effect when the server (re)starts; the rest are read each
 * time they are used (completion.enabled, the explain/chat/review sampling).
 */
export const RESTART_KEYS: readonly string[] = [
  'serverCommand',
  'serverArgs',
  'model',
  'manifest',
  'context',
  'nGpuLayers',
  'nThreads',
  'logContent',
  'languages',
  'completion.multiline',
  'completion.maxTokensSingle',
  'completion.maxTokensMulti',
  'completion.temperature',
  'completion.maxPromptTokens',
  'completion.maxLinesBefore',
  'completion.maxLinesAfter',
];

/** Whether a configuration change needs a server restart; `affects` is e.affectsConfiguration. */
export function needsRestart(affects: (section: string) => boolean): boolean {
  return RESTART_KEYS.some((key) => affects(`codehearth.${key}`));
}

export interface Sampling {
  temperature?: number;
  max_tokens?: number;
}

/** The per-request `sampling` override of explain / chat / review, or undefined for none. */
export function samplingFor(kind: 'explain' | 'chat' | 'review', settings: Settings): Sampling | undefined {
  const sampling: Sampling = {};
  const t =
    kind === 'explain'
      ? settings.explainTemperature
      : kind === 'chat'
        ? settings.chatTemperature
        : settings.reviewTemperature;
  if (t !== undefined) {
    sampling.temperature = t;
  }
  if (kind !== 'review' && settings.replyMaxTokens !== undefined) {
    sampling.max_tokens = settings.replyMaxTokens;
  }
  return Object.keys(sampling).length > 0 ? sampling : undefined;
}

/**
 * Where `command` would be found: itself when it names a path, else the first `PATH`
 * entry holding it. Undefined when it is nowhere, so the extension can say so instead of
 * letting the spawn fail. `isExecutable` checks one candidate file.
 */
export function resolveCommand(
  command: string,
  envPath: string | undefined,
  isExecutable: (file: string) => boolean,
  platform: string = process.platform,
): string | undefined {
  const win = platform === 'win32';
  const sep = win ? ';' : ':';
  const exts = win ? ['', '.exe', '.cmd', '.bat'] : [''];
  const join = (dir: string, name: string): string => (dir.endsWith('/') || dir.endsWith('\\') ? dir + name : `${dir}${win ? '\\' : '/'}${name}`);
  if (command.includes('/') || (win && command.includes('\\'))) {
    return exts.map((e) => command + e).find(isExecutable);
  }
  for (const dir of (envPath ?? '').split(sep)) {
    if (dir === '') {
      continue;
    }
    for (const e of exts) {
      const candidate = join(dir, command + e);
      if (isExecutable(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}
