import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { configFileSchema, configSchema, type PipelineConfig } from './schema';

/** Path of the shipped example, used when neither `--config` nor `PIPELINE_CONFIG` names a file. */
export const DEFAULT_CONFIG_PATH = resolve(__dirname, 'example.json');

/** One problem found in a configuration file: where, what was there (when it helps), and what is expected. */
export interface ConfigProblem {
  readonly path: string;
  readonly value?: unknown;
  readonly expected: string;
}

/** Name of the one environment of a file in the single-environment form, and so of its stack. */
export const SINGLE_ENVIRONMENT = 'pipeline';

/** One environment of the app: its name (the cdktf stack's) and its validated configuration. */
export interface Environment {
  readonly name: string;
  readonly config: PipelineConfig;
}

function renderProblem(p: ConfigProblem): string {
  return 'value' in p
    ? `${p.path}: ${p.expected} (got ${JSON.stringify(p.value) ?? 'nothing'})`
    : `${p.path}: ${p.expected}`;
}

/** A configuration that cannot be used; its message lists every problem, one a line. */
export class ConfigError extends Error {
  public override readonly name = 'ConfigError';
  constructor(
    public readonly file: string,
    public readonly problems: readonly ConfigProblem[],
  ) {
    super(
      `Invalid configuration in ${file} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${renderProblem(p)}`).join('\n'),
    );
  }
}

/** Picks the configuration file: `--config <path>` wins over `PIPELINE_CONFIG`, which wins over the example. */
export function configPathFrom(argv: readonly string[], env: NodeJS.ProcessEnv): string {
  const flag = argv.findIndex((a) => a === '--config' || a.startsWith('--config='));
  if (flag >= 0) {
    const arg = argv[flag];
    const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[flag + 1];
    if (!value)
      throw new ConfigError('(command line)', [{ path: '--config', value: undefined, expected: 'a file path' }]);
    return resolve(value);
  }
  return env.PIPELINE_CONFIG ? resolve(env.PIPELINE_CONFIG) : DEFAULT_CONFIG_PATH;
}

/**
 * The environments chosen on a command line: every `--environment <name>` (or `--environment=<name>`), else the
 * comma-separated `PIPELINE_ENVIRONMENT`; empty means all of them.
 */
export function environmentsFrom(argv: readonly string[], env: NodeJS.ProcessEnv): string[] {
  const chosen: string[] = [];
  argv.forEach((arg, i) => {
    if (arg === '--environment') {
      const value = argv[i + 1];
      if (!value || value.startsWith('--'))
        throw new ConfigError('(command line)', [{ path: '--environment', expected: 'an environment name' }]);
      chosen.push(value);
    } else if (arg.startsWith('--environment=')) chosen.push(arg.slice('--environment='.length));
  });
  if (chosen.length > 0) return chosen;
  return (env.PIPELINE_ENVIRONMENT ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n.length > 0);
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = input;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function pathText(path: readonly PropertyKey[]): string {
  return path.length
    ? path
        .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
        .join('.')
        .replace(/\.\[/g, '[')
    : '(root)';
}

function toProblem(issue: z.core.$ZodIssue, input: unknown): ConfigProblem {
  const path = pathText(issue.path);
  const value = valueAt(input, issue.path);
  if (issue.code === 'invalid_type') {
    if (value === undefined) return { path, expected: `required (${issue.expected})` };
    return { path, expected: `expected ${issue.expected}, got ${kindOf(value)} (${JSON.stringify(value)})` };
  }
  if (issue.code === 'unrecognized_keys')
    return {
      path,
      value: Object.fromEntries(issue.keys.map((k) => [k, valueAt(input, [...issue.path, k])])),
      expected: `unknown key(s) ${issue.keys.join(', ')}`,
    };
  if (issue.code === 'invalid_key') return { path, expected: `${issue.issues.map((i) => i.message).join('; ')}` };
  return { path, value, expected: issue.message };
}

function problemsOf(error: z.ZodError, input: unknown): ConfigProblem[] {
  return error.issues.map((issue) => toProblem(issue, input));
}

/** Validates one environment's configuration (the single-environment form), collecting every problem. */
export function parseConfig(input: unknown, file = '(inline)'): PipelineConfig {
  const result = configSchema.safeParse(input);
  if (result.success) return result.data;
  throw new ConfigError(file, problemsOf(result.error, input));
}

/**
 * Validates a configuration file: `{ environments: { <name>: … } }`, or the single-environment form (one
 * pipeline's keys at the top), read as one environment named {@link SINGLE_ENVIRONMENT}. `$schema` is an editor's
 * hint and is ignored.
 */
export function parseConfigFile(input: unknown, file = '(inline)'): Environment[] {
  if (input !== null && typeof input === 'object' && !Array.isArray(input) && !('environments' in input)) {
    const { $schema: _, ...single } = input as Record<string, unknown>;
    return [{ name: SINGLE_ENVIRONMENT, config: parseConfig(single, file) }];
  }
  const result = configFileSchema.safeParse(input);
  if (!result.success) throw new ConfigError(file, problemsOf(result.error, input));
  return Object.entries(result.data.environments).map(([name, config]) => ({ name, config }));
}

/** Line and column (1-based) of a character offset. */
function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

/**
 * Offset of the first JSON syntax error in a text JSON.parse rejected: a minimal scan of the JSON grammar, since
 * not every Node version says where the error is.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length;
    else fail();
  };
  const string = () => {
    if (text[i] !== '"') fail();
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text.charCodeAt(i) < 0x20) fail();
      if (text[i] === '\\') {
        i++;
        if (text[i] === 'u') {
          for (let k = 1; k <= 4; k++) if (!/[0-9a-fA-F]/.test(text[i + k] ?? '')) fail();
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? 'x')) fail();
      }
      i++;
    }
    if (i >= text.length) fail();
    i++;
  };
  const number = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (!m) fail();
    i += (m as RegExpExecArray)[0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        string();
        ws();
        if (text[i] !== ':') fail();
        i++;
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return;
        } else fail();
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return;
        } else fail();
      }
    } else if (c === '"') string();
    else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === 'n') literal('null');
    else number();
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
  } catch (at) {
    if (typeof at === 'number') return Math.min(at, text.length);
    throw at;
  }
  return text.length;
}

/** JSON.parse's complaint, with where it is: line and column of the offending character. */
function describeJsonError(text: string, error: Error): string {
  const message = error.message.replace(/ in JSON at position \d+.*$/, '').replace(/, ".*" is not valid JSON$/s, '');
  const { line, column } = lineAndColumn(text, jsonErrorOffset(text));
  return `valid JSON (${message} at line ${line}, column ${column})`;
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [
      { path: '(file)', value: file, expected: `a readable file (${(e as NodeJS.ErrnoException).code ?? String(e)})` },
    ]);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, [{ path: '(file)', expected: describeJsonError(text, e as Error) }]);
  }
}

/** Reads and validates a configuration file: every environment in it. A missing file or bad JSON is a ConfigError. */
export function loadConfigFile(file: string): Environment[] {
  return parseConfigFile(readJson(file), file);
}

/** The named environments, in the file's order; every unknown name is a ConfigError. Empty names: all. */
export function selectEnvironments(
  environments: readonly Environment[],
  names: readonly string[],
  file: string,
): Environment[] {
  if (names.length === 0) return [...environments];
  const known = environments.map((e) => e.name);
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length > 0)
    throw new ConfigError(
      file,
      unknown.map((n) => ({ path: '--environment', value: n, expected: `one of ${known.join(', ')}` })),
    );
  return environments.filter((e) => names.includes(e.name));
}

/**
 * The one environment a command works on: the named one, or the file's only one. A file with several
 * environments and no name is a ConfigError listing them.
 */
export function loadEnvironment(file: string, name?: string): Environment {
  const environments = loadConfigFile(file);
  if (name !== undefined) return selectEnvironments(environments, [name], file)[0];
  if (environments.length === 1) return environments[0];
  throw new ConfigError(file, [
    {
      path: '--environment',
      expected: `choose one of ${environments.map((e) => e.name).join(', ')} (--environment <name> or PIPELINE_ENVIRONMENT)`,
    },
  ]);
}

/** Reads a configuration file and returns one environment's configuration (see {@link loadEnvironment}). */
export function loadConfig(file: string, name?: string): PipelineConfig {
  return loadEnvironment(file, name).config;
}
