/**
 * What every command receives: the parsed flags, the validated configuration, the located stack and the
 * AWS clients, all injectable so tests can run commands against mocks and emulators.
 */
import type { PipelineConfig } from '../config/schema';
import type { PipelinePublisher } from '../lambdas/shared/domain/messages';
import type { AwsClients } from './aws';
import type { Io } from './output';
import type { LocatedStack } from './stack';

/** Flag values after parsing: strings, booleans, or lists for repeatable flags. */
export type FlagValues = Readonly<Record<string, string | boolean | readonly string[] | undefined>>;

/** Runtime of one command invocation. */
export interface CliContext {
  readonly io: Io;
  /** `--json`: print machine-readable results only. */
  readonly json: boolean;
  readonly config: PipelineConfig;
  readonly configPath: string;
  readonly env: NodeJS.ProcessEnv;
  /** The deployed stack; located lazily, once. */
  stack(): LocatedStack;
  readonly aws: AwsClients;
  /**
   * Where `runs start|retry|cancel` publish: the stack's pipeline topic (created on first use), or a publisher
   * given to `main` (an in-process pipeline, for tests).
   */
  publisher(): PipelinePublisher;
  /** Clock, injectable for deterministic tests. */
  now(): Date;
  /** Waits between polls; tests pass one that returns at once. */
  sleep(ms: number): Promise<void>;
}

/** A command: its flags, positional arguments and behaviour. Returns the process exit code. */
export interface Command {
  /** Words that select it, e.g. `runs list`. */
  readonly name: string;
  readonly summary: string;
  /** Usage line after the command name, e.g. `<run-id> [--wait]`. */
  readonly usage: string;
  readonly options: Readonly<
    Record<
      string,
      {
        readonly type: 'string' | 'boolean';
        readonly multiple?: boolean;
        /** One-letter alias, e.g. `h` for `-h`. */
        readonly short?: string;
        readonly description: string;
      }
    >
  >;
  /** Names of the positional arguments it requires. */
  readonly positionals?: readonly string[];
  run(ctx: CliContext, flags: FlagValues, positionals: readonly string[]): Promise<number>;
}
