import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { configSchema, type PipelineConfig } from './schema';

/** Path of the shipped example, used when neither `--config` nor `PIPELINE_CONFIG` names a file. */
export const DEFAULT_CONFIG_PATH = resolve(__dirname, 'example.json');

/** One problem found in a configuration file: where, what was there, and what is expected. */
export interface ConfigProblem {
  readonly path: string;
  readonly value: unknown;
  readonly expected: string;
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
        problems.map((p) => `  - ${p.path}: ${p.expected} (got ${JSON.stringify(p.value) ?? 'nothing'})`).join('\n'),
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

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = input;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && issue.input === undefined) return `required: ${issue.expected}`;
  if (issue.code === 'unrecognized_keys') return `unknown key(s) ${issue.keys.join(', ')}`;
  return issue.message;
}

/** Validates a parsed configuration object, collecting every problem rather than stopping at the first. */
export function parseConfig(input: unknown, file = '(inline)'): PipelineConfig {
  const result = configSchema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => ({
    path: issue.path.length
      ? issue.path
          .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
          .join('.')
          .replace(/\.\[/g, '[')
      : '(root)',
    value:
      issue.code === 'unrecognized_keys'
        ? Object.fromEntries(issue.keys.map((k) => [k, valueAt(input, [...issue.path, k])]))
        : valueAt(input, issue.path),
    expected: describeIssue(issue),
  }));
  throw new ConfigError(file, problems);
}

/** Reads and validates a configuration file; a missing file or bad JSON is a ConfigError too. */
export function loadConfig(file: string): PipelineConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [
      { path: '(file)', value: file, expected: `a readable file (${(e as NodeJS.ErrnoException).code ?? String(e)})` },
    ]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, [
      { path: '(file)', value: undefined, expected: `valid JSON (${(e as Error).message})` },
    ]);
  }
  return parseConfig(json, file);
}
