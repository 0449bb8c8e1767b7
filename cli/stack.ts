/**
 * Finds the deployed stack: the names and ARNs a command needs, read from (highest first) environment
 * overrides, a `--outputs` file holding `terraform output -json`, or the Terraform outputs of the synthesized
 * stack (the local state file, or `terraform output -json` for a remote backend).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { PipelineConfig } from '../config/schema';
import { StackNotFound } from './errors';

/** What the CLI needs to know about a deployment. Every field is optional until a command requires it. */
export interface StackInfo {
  readonly tableName?: string;
  readonly pipelineTopicArn?: string;
  readonly alertsTopicArn?: string;
  readonly exportBucket?: string;
  readonly exportKmsKeyArn?: string;
  readonly exportRoleArn?: string;
  readonly copyRoleArn?: string;
  /** The copy function, invoked by preflight to probe the destination as the copy role. */
  readonly copyFunctionArn?: string;
}
export type StackField = keyof StackInfo;

/**
 * For each field: the environment variable that overrides it, and the Terraform output names it is read from
 * (first present wins).
 */
export const STACK_FIELDS: Readonly<Record<StackField, { readonly env: string; readonly outputs: readonly string[] }>> =
  {
    tableName: { env: 'PIPELINE_TABLE_NAME', outputs: ['run_table_name', 'table_name'] },
    pipelineTopicArn: { env: 'PIPELINE_TOPIC_ARN', outputs: ['pipeline_topic_arn'] },
    alertsTopicArn: { env: 'PIPELINE_ALERTS_TOPIC_ARN', outputs: ['alerts_topic_arn'] },
    exportBucket: { env: 'PIPELINE_EXPORT_BUCKET', outputs: ['export_bucket_name', 'export_bucket'] },
    exportKmsKeyArn: {
      env: 'PIPELINE_EXPORT_KMS_KEY_ARN',
      outputs: ['export_kms_key_arn', 'kms_key_arn', 'pipeline_key_arn'],
    },
    exportRoleArn: { env: 'PIPELINE_EXPORT_ROLE_ARN', outputs: ['export_role_arn'] },
    copyRoleArn: { env: 'PIPELINE_COPY_ROLE_ARN', outputs: ['copy_role_arn', 'copy_function_role_arn'] },
    copyFunctionArn: { env: 'PIPELINE_COPY_FUNCTION_ARN', outputs: ['function_arns.copy', 'copy_function_arn'] },
  };

/**
 * Id of the cdktf stack of a single-environment configuration (`cdktf.out/stacks/<id>`); equals
 * modules/pipeline-stack STACK_ID (a test keeps them equal). An environment's stack is named after it.
 */
export const STACK_NAME = 'pipeline';

/** Where the stack's values came from, for messages. */
export interface LocatedStack {
  readonly info: StackInfo;
  readonly source: string;
}

/** Options for {@link locateStack}. */
export interface LocateOptions {
  readonly config: PipelineConfig;
  readonly env: NodeJS.ProcessEnv;
  /** `--outputs <file>`: JSON from `terraform output -json` (or a flat `{name: value}` object). */
  readonly outputsFile?: string;
  /** `--stack-dir`: the synthesized stack folder. @default PIPELINE_STACK_DIR or cdktf.out/stacks/<stackName> */
  readonly stackDir?: string;
  /** The environment's stack. @default {@link STACK_NAME} */
  readonly stackName?: string;
  /** Runs `terraform output -json` in a folder; injectable for tests. */
  readonly terraformOutput?: (dir: string) => string;
}

/**
 * Flattens `terraform output -json` (`{name: {value, type, sensitive}}`) or a flat object into name → string;
 * a map of strings (e.g. `function_arns`) becomes one entry per key, named `name.key`.
 */
export function flattenOutputs(json: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (json === null || typeof json !== 'object') return out;
  for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
    const value = v !== null && typeof v === 'object' && 'value' in (v as object) ? (v as { value: unknown }).value : v;
    if (typeof value === 'string') out[name] = value;
    else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, inner] of Object.entries(value as Record<string, unknown>))
        if (typeof inner === 'string') out[`${name}.${k}`] = inner;
    }
  }
  return out;
}

function fromOutputs(outputs: Record<string, string>): StackInfo {
  const info: Record<string, string> = {};
  for (const [field, spec] of Object.entries(STACK_FIELDS)) {
    const hit = spec.outputs.find((n) => outputs[n] !== undefined);
    if (hit) info[field] = outputs[hit];
  }
  return info as StackInfo;
}

function defaultTerraformOutput(dir: string): string {
  return execFileSync('terraform', ['output', '-json'], {
    cwd: dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 120_000,
  });
}

function readOutputsFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new StackNotFound(
      `Cannot read outputs file ${file} (${(e as NodeJS.ErrnoException).code ?? String(e)}): write it with \`terraform output -json > ${file}\`.`,
    );
  }
  try {
    return flattenOutputs(JSON.parse(text));
  } catch (e) {
    throw new StackNotFound(
      `Outputs file ${file} is not JSON (${(e as Error).message}): write it with \`terraform output -json > ${file}\`.`,
    );
  }
}

/** Reads the Terraform outputs of the synthesized stack; undefined when there is nothing deployed to read. */
function readStackOutputs(
  config: PipelineConfig,
  dir: string,
  run: (dir: string) => string,
): { outputs: Record<string, string>; source: string } | undefined {
  if (!existsSync(dir)) return undefined;
  if (config.backend.type === 'local') {
    const path = isAbsolute(config.backend.path) ? config.backend.path : join(dir, config.backend.path);
    if (!existsSync(path)) return undefined;
    const state = JSON.parse(readFileSync(path, 'utf8')) as { outputs?: unknown };
    return { outputs: flattenOutputs(state.outputs), source: `Terraform state ${path}` };
  }
  if (!existsSync(join(dir, '.terraform'))) return undefined;
  try {
    return { outputs: flattenOutputs(JSON.parse(run(dir))), source: `terraform output -json in ${dir}` };
  } catch (e) {
    throw new StackNotFound(
      `\`terraform output -json\` failed in ${dir}: ${(e as Error).message.split('\n')[0]}. Run \`terraform init\` there, or pass --outputs <file>.`,
    );
  }
}

/**
 * Locates the stack. Never fails for a stack that is simply absent: commands call {@link requireStack} for
 * the fields they need, which then explains how to provide them.
 */
export function locateStack(options: LocateOptions): LocatedStack {
  const env = options.env;
  let base: StackInfo = {};
  let source = 'nothing deployed found';
  if (options.outputsFile) {
    base = fromOutputs(readOutputsFile(options.outputsFile));
    source = `outputs file ${options.outputsFile}`;
  } else {
    const dir = resolve(
      options.stackDir ??
        env.PIPELINE_STACK_DIR ??
        join(__dirname, '..', 'cdktf.out', 'stacks', options.stackName ?? STACK_NAME),
    );
    const found = readStackOutputs(options.config, dir, options.terraformOutput ?? defaultTerraformOutput);
    if (found) {
      base = fromOutputs(found.outputs);
      source = found.source;
    }
  }
  const overrides: Record<string, string> = {};
  for (const [field, spec] of Object.entries(STACK_FIELDS)) {
    const v = env[spec.env];
    if (v) overrides[field] = v;
  }
  if (Object.keys(overrides).length > 0) source = `${source} + environment overrides`;
  return { info: { ...base, ...overrides }, source };
}

/** Returns the stack with the given fields present, or throws StackNotFound saying how to provide them. */
export function requireStack<F extends StackField>(
  stack: LocatedStack,
  fields: readonly F[],
): StackInfo & Required<Pick<StackInfo, F>> {
  const missing = fields.filter((f) => !stack.info[f]);
  if (missing.length === 0) return stack.info as StackInfo & Required<Pick<StackInfo, F>>;
  const how = missing.map((f) => `${STACK_FIELDS[f].outputs[0]} (or env ${STACK_FIELDS[f].env})`).join(', ');
  throw new StackNotFound(
    `Deployed stack not found (${stack.source}); missing ${how}. Deploy with \`cdktf deploy\`, or pass --outputs <file> from \`terraform output -json\`.`,
  );
}
