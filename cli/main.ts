/**
 * The operator CLI: `npm run -s pipeline -- <command> [flags]` (or the `pipeline` bin).
 *
 * Global flags: --config <file>, --environment <name>, --json, --outputs <file>, --stack-dir <dir>,
 * --region <region>, --help, --version.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { configPathFrom, loadEnvironment, ConfigError } from '../config/load';
import { SnsPipelinePublisher } from '../lambdas/shared/adapters/sns';
import type { PipelinePublisher } from '../lambdas/shared/domain/messages';
import { defaultClients, type AwsClients } from './aws';
import { commands } from './commands';
import type { CliContext, Command, FlagValues } from './context';
import { CliError, toCliError, UsageError } from './errors';
import { processIo, type Io } from './output';
import { locateStack, requireStack, type LocatedStack } from './stack';
import { checkRegion } from './validate';

const GLOBAL_OPTIONS = {
  config: { type: 'string', description: 'Configuration file (default: PIPELINE_CONFIG, then config/example.json)' },
  environment: {
    type: 'string',
    description: "Environment of the configuration (default: PIPELINE_ENVIRONMENT, else the file's only one)",
  },
  json: { type: 'boolean', description: 'Print machine-readable JSON only' },
  outputs: { type: 'string', description: 'File with `terraform output -json` of the deployed stack' },
  'stack-dir': { type: 'string', description: 'Synthesized stack folder (default: cdktf.out/stacks/<environment>)' },
  region: { type: 'string', description: 'AWS region (default: AWS_REGION, then the configuration region)' },
  help: { type: 'boolean', short: 'h', description: 'Show help' },
  version: { type: 'boolean', description: 'Print the version' },
} as const satisfies Command['options'];

/** Overrides for tests: IO, environment, clients, clock, the stack and where pipeline messages go. */
export interface MainDeps {
  readonly io?: Io;
  readonly env?: NodeJS.ProcessEnv;
  readonly aws?: AwsClients;
  readonly now?: () => Date;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly stack?: LocatedStack;
  /** Receives pipeline messages instead of the stack's SNS topic. */
  readonly publisher?: PipelinePublisher;
}

type Options = Command['options'];
type Token = NonNullable<ReturnType<typeof parseArgs>['tokens']>[number];
type OptionToken = Extract<Token, { kind: 'option' }>;

function parseOptions(options: Options) {
  return Object.fromEntries(
    Object.entries(options).map(([k, v]) => [
      k,
      { type: v.type, ...(v.multiple ? { multiple: true } : {}), ...(v.short ? { short: v.short } : {}) },
    ]),
  );
}

/** Every flag any command knows, so that the first pass reads each flag's value as a value, not a word. */
function allOptions(): Options {
  const all: Options = { ...GLOBAL_OPTIONS };
  for (const c of commands) Object.assign(all, c.options);
  return all;
}

/** The words and flags of the command line, read without judging them yet. */
function tokenize(argv: readonly string[]): { words: string[]; flags: OptionToken[] } {
  const { tokens = [] } = parseArgs({
    args: [...argv],
    options: parseOptions(allOptions()),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  return {
    words: tokens.filter((t) => t.kind === 'positional').map((t) => t.value),
    flags: tokens.filter((t): t is OptionToken => t.kind === 'option'),
  };
}

/** Picks the command from the leading words (the longest name that matches). */
function findCommand(words: readonly string[]): Command | undefined {
  const byLength = [...commands].sort((a, b) => b.name.split(' ').length - a.name.split(' ').length);
  return byLength.find((c) => c.name.split(' ').every((w, i) => words[i] === w));
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/** A hint for an unknown flag: the known flag it is closest to, or the commands it belongs to. */
function flagHint(name: string, known: Options): string {
  const close = Object.keys(known)
    .map((k) => ({ k, d: editDistance(name, k) }))
    .filter((x) => x.d <= Math.max(1, Math.floor(name.length / 4)))
    .sort((a, b) => a.d - b.d)[0];
  if (close) return ` (did you mean --${close.k}?)`;
  const owners = commands.filter((c) => name in c.options).map((c) => c.name);
  return owners.length ? ` (it belongs to ${owners.join(', ')})` : '';
}

/**
 * Checks every flag against those `where` accepts: an unknown flag is named (with the closest known one), a
 * flag that needs a value says so, a switch given a value says so. Usage errors, exit code 2.
 */
function checkFlags(flags: readonly OptionToken[], known: Options, where: string, helpHint: string): void {
  for (const t of flags) {
    const spec = known[t.name];
    if (!spec) throw new UsageError(`Unknown flag ${t.rawName} for ${where}${flagHint(t.name, known)}. ${helpHint}`);
    if (spec.type === 'boolean' && t.inlineValue)
      throw new UsageError(`${t.rawName} takes no value (got "${t.value}"). ${helpHint}`);
    if (spec.type === 'string' && (t.value === undefined || (!t.inlineValue && t.value.startsWith('--'))))
      throw new UsageError(
        `${t.rawName} needs a value${t.value === undefined ? '' : ` (got the flag ${t.value})`}. ${helpHint}`,
      );
  }
}

function flagLines(options: Options, width: number): string[] {
  return Object.entries(options).map(([k, v]) => {
    const name = `${v.short ? `-${v.short}, ` : ''}--${k}${v.type === 'string' ? ' <value>' : ''}`;
    return `  ${name.padEnd(width)}  ${v.description}`;
  });
}

function usage(): string[] {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: pipeline <command> [flags]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global flags:',
    ...flagLines(GLOBAL_OPTIONS, 22),
    '',
    'Run `pipeline <command> --help` for the flags of one command.',
  ];
}

function commandHelp(c: Command): string[] {
  return [
    `Usage: pipeline ${c.name} ${c.usage}`.trimEnd(),
    '',
    c.summary,
    ...(Object.keys(c.options).length ? ['', 'Flags:', ...flagLines(c.options, 26)] : []),
    '',
    'Global flags:',
    ...flagLines(GLOBAL_OPTIONS, 26),
  ];
}

/** The package's name and version, from package.json. */
export function packageVersion(): { name: string; version: string } {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as {
    name: string;
    version: string;
  };
  return { name: pkg.name, version: pkg.version };
}

/** Names the command a set of words was meant to be: `runs` alone, or a misspelt subcommand. */
function unknownCommand(words: readonly string[]): UsageError {
  const group = commands.filter((c) => c.name.split(' ')[0] === words[0] && c.name.includes(' '));
  if (group.length) {
    const subs = group.map((c) => c.name.split(' ')[1]).join(', ');
    return new UsageError(
      words.length === 1
        ? `\`${words[0]}\` needs a subcommand: ${subs}. Run \`pipeline help\` for the list.`
        : `Unknown command "${words.join(' ')}": ${words[0]} takes ${subs}. Run \`pipeline help\` for the list.`,
    );
  }
  return new UsageError(`Unknown command "${words.join(' ')}". Run \`pipeline help\` for the list.`);
}

/** Runs the CLI and returns the exit code; never throws. */
export async function main(argv: readonly string[], deps: MainDeps = {}): Promise<number> {
  const io = deps.io ?? processIo;
  const env = deps.env ?? process.env;
  let json = argv.includes('--json');
  let region: string | undefined;
  try {
    const { words, flags: flagTokens } = tokenize(argv);
    const has = (name: string) => flagTokens.some((t) => t.name === name);
    const command = findCommand(words) ?? (words[0] === 'help' ? findCommand(words.slice(1)) : undefined);
    if (has('version')) {
      checkFlags(flagTokens, { ...GLOBAL_OPTIONS, ...command?.options }, 'pipeline', 'Run `pipeline help`.');
      const { name, version } = packageVersion();
      io.out(json ? JSON.stringify({ name, version }) : `pipeline ${version} (${name})`);
      return 0;
    }
    if (!command || (words[0] === 'help' && command)) {
      checkFlags(
        flagTokens,
        { ...GLOBAL_OPTIONS, ...command?.options },
        command ? `pipeline help ${command.name}` : 'pipeline',
        'Run `pipeline help` for the commands and their flags.',
      );
      if (command) {
        commandHelp(command).forEach((l) => {
          io.out(l);
        });
        return 0;
      }
      if (words.length === 0 || (words[0] === 'help' && words.length === 1)) {
        usage().forEach((l) => {
          io.out(l);
        });
        return words.length === 0 && !has('help') ? 2 : 0;
      }
      throw unknownCommand(words[0] === 'help' ? words.slice(1) : words);
    }
    const helpHint = `Run \`pipeline ${command.name} --help\` for its flags.`;
    checkFlags(flagTokens, { ...GLOBAL_OPTIONS, ...command.options }, command.name, helpHint);
    // Every flag was checked above; this pass only collects the values (a value may start with a dash).
    const parsed = parseArgs({
      args: [...argv],
      options: parseOptions({ ...GLOBAL_OPTIONS, ...command.options }),
      strict: false,
      allowPositionals: true,
    });
    const flags = parsed.values as FlagValues;
    json = flags.json === true;
    if (flags.help) {
      commandHelp(command).forEach((l) => {
        io.out(l);
      });
      return 0;
    }
    const args = parsed.positionals.slice(command.name.split(' ').length);
    const wanted = command.positionals ?? [];
    if (args.length < wanted.length)
      throw new UsageError(
        `Missing ${wanted
          .slice(args.length)
          .map((p) => `<${p}>`)
          .join(' ')}. Usage: pipeline ${command.name} ${command.usage}`,
      );
    if (args.length > wanted.length)
      throw new UsageError(
        `Unexpected argument "${args[wanted.length]}". Usage: pipeline ${command.name} ${command.usage}`,
      );
    if (flags.region !== undefined) checkRegion(flags.region as string);

    const configPath = configPathFrom(argv, env);
    const environment = loadEnvironment(
      configPath,
      (flags.environment as string | undefined) ?? (env.PIPELINE_ENVIRONMENT || undefined),
    );
    const config = environment.config;
    region = (flags.region as string | undefined) ?? env.AWS_REGION ?? config.region;
    if (!flags.region && env.AWS_REGION) checkRegion(env.AWS_REGION, 'AWS_REGION');
    let located: LocatedStack | undefined = deps.stack;
    let publisher: PipelinePublisher | undefined = deps.publisher;
    const aws = deps.aws ?? defaultClients(region, env);
    const ctx: CliContext = {
      io,
      json,
      config,
      configPath,
      env,
      stack: () =>
        (located ??= locateStack({
          config,
          env,
          outputsFile: flags.outputs as string | undefined,
          stackDir: flags['stack-dir'] as string | undefined,
          stackName: environment.name,
        })),
      aws,
      publisher: () =>
        (publisher ??= new SnsPipelinePublisher(
          requireStack(ctx.stack(), ['pipelineTopicArn']).pipelineTopicArn,
          aws.sns(),
        )),
      now: deps.now ?? (() => new Date()),
      sleep: deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
    };
    return await command.run(ctx, flags, args);
  } catch (e) {
    const error = e instanceof ConfigError ? new CliError(e.message) : toCliError(e, { region, env });
    if (json) io.out(JSON.stringify({ error: { name: error.name, message: error.message } }, null, 2));
    io.err(`error: ${error.message}`);
    return error.exitCode;
  }
}

/**
 * Runs the CLI as this process: the exit code is the command's; a reader that closes the output early
 * (`pipeline runs list | head`) ends the process quietly instead of with a stack trace.
 */
export function runAsProcess(argv: readonly string[] = process.argv.slice(2)): void {
  // The AWS SDK prints an 8-line NodeVersionSupportWarning once per process on Node < 22 (the declared Node is
  // 22). Its own switch silences exactly that warning; an explicit setting by the operator is kept.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
      process.exit(process.exitCode ?? 0);
    });
  }
  void main([...argv]).then((code) => {
    process.exitCode = code;
  });
}

if (require.main === module) runAsProcess();
