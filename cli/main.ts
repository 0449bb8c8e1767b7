/**
 * The operator CLI: `npm run pipeline -- <command> [flags]` (or the `pipeline` bin).
 *
 * Global flags: --config <file>, --environment <name>, --json, --outputs <file>, --stack-dir <dir>, --region <region>, --help.
 */
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
  help: { type: 'boolean', description: 'Show help' },
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

function parseOptions(options: Command['options']) {
  return Object.fromEntries(
    Object.entries(options).map(([k, v]) => [k, { type: v.type, ...(v.multiple ? { multiple: true } : {}) }]),
  );
}

/** Picks the command from the words before the flags; flags of every command are known to the first pass. */
function findCommand(argv: readonly string[]): { command?: Command; words: string[] } {
  const all: Command['options'] = { ...GLOBAL_OPTIONS };
  for (const c of commands) Object.assign(all, c.options);
  const { positionals } = parseArgs({
    args: [...argv],
    options: parseOptions(all),
    strict: false,
    allowPositionals: true,
  });
  const byLength = [...commands].sort((a, b) => b.name.split(' ').length - a.name.split(' ').length);
  const command = byLength.find((c) => c.name.split(' ').every((w, i) => positionals[i] === w));
  return { command, words: positionals };
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
    ...Object.entries(GLOBAL_OPTIONS).map(([k, v]) => `  --${k.padEnd(10)}  ${v.description}`),
    '',
    'Run `pipeline <command> --help` for the flags of one command.',
  ];
}

function commandHelp(c: Command): string[] {
  return [
    `Usage: pipeline ${c.name} ${c.usage}`.trimEnd(),
    '',
    c.summary,
    ...(Object.keys(c.options).length
      ? ['', 'Flags:', ...Object.entries(c.options).map(([k, v]) => `  --${k.padEnd(14)}  ${v.description}`)]
      : []),
  ];
}

/** Runs the CLI and returns the exit code; never throws. */
export async function main(argv: readonly string[], deps: MainDeps = {}): Promise<number> {
  const io = deps.io ?? processIo;
  const env = deps.env ?? process.env;
  let json = argv.includes('--json');
  try {
    const { command, words } = findCommand(argv);
    if (!command) {
      if (words.length === 0 || words[0] === 'help' || argv.includes('--help')) {
        usage().forEach((l) => {
          io.out(l);
        });
        return words.length === 0 && !argv.includes('--help') ? 2 : 0;
      }
      throw new UsageError(`Unknown command "${words.join(' ')}". Run \`pipeline help\` for the list.`);
    }
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({
        args: [...argv],
        options: parseOptions({ ...GLOBAL_OPTIONS, ...command.options }),
        strict: true,
        allowPositionals: true,
      });
    } catch (e) {
      throw new UsageError(`${(e as Error).message}. Usage: pipeline ${command.name} ${command.usage}`);
    }
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

    const configPath = configPathFrom(argv, env);
    const environment = loadEnvironment(
      configPath,
      (flags.environment as string | undefined) ?? (env.PIPELINE_ENVIRONMENT || undefined),
    );
    const config = environment.config;
    const region = (flags.region as string | undefined) ?? env.AWS_REGION ?? config.region;
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
    const error = e instanceof ConfigError ? new CliError(e.message) : toCliError(e);
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
