import { readFileSync } from 'node:fs';
import { type App, Testing } from 'cdktf';
import { unzipSync } from 'fflate';
import { SETTINGS_ENV_VAR, SETTINGS_FILE, type RuntimeSettings } from '../../lambdas/shared/contracts/settings';
import { parseConfig } from '../../config/load';
import type { PipelineConfig, PipelineConfigInput } from '../../config/schema';
import { exampleEnvironment } from '../support/example-config';
import type { STAGES } from '../../modules/export-pipeline';
import { FIXTURE_ENTRY, fixtureBundles } from '../support/shared-bundles';
import { PipelineStack, type PipelineStackProps } from '../../modules/pipeline-stack';
import { decodeJsonencoded } from '../support/terraform-expressions';

/** A synthesized stack as Terraform JSON. */
export interface SynthesizedStack {
  readonly resource: Record<string, Record<string, Record<string, unknown>>>;
  readonly data: Record<string, Record<string, Record<string, unknown>>>;
  readonly output: Record<string, { value: unknown; description?: string }>;
  readonly terraform: Record<string, unknown>;
  readonly provider: Record<string, Record<string, unknown>[]>;
}

export { FIXTURE_ENTRY, fixtureBundles };

/** The example's production environment, optionally changed. */
export function exampleConfig(change: (c: PipelineConfigInput) => PipelineConfigInput = (c) => c): PipelineConfig {
  return parseConfig(change(exampleEnvironment()), 'config/example.json');
}

/**
 * Builds the pipeline stack from a configuration and returns the stack, its synthesized JSON, and that JSON parsed
 * with every `${jsonencode(...)}` (policies, deployed settings, the client's statements) read as the JSON text it
 * encodes, references left in place.
 */
export function synthStack(config: PipelineConfig = exampleConfig(), extra: Partial<PipelineStackProps> = {}) {
  const app: App = Testing.app();
  const stack = new PipelineStack(app, 'pipeline', { config, code: fixtureBundles(), ...extra });
  const json = Testing.synth(stack);
  return { stack, json, tf: decodeJsonencoded(JSON.parse(json) as SynthesizedStack) };
}

/**
 * The settings a stage function of a synthesized stack runs with, as the handler reads them: the packaged
 * `settings.json` of its zip under the deployed part of its environment (Terraform tokens left in place).
 */
export function synthesizedSettings(
  tf: SynthesizedStack,
  stack: PipelineStack,
  stage: (typeof STAGES)[number],
): RuntimeSettings {
  const fn = stack.pipeline.stageFunction(stage);
  const resource = Object.values(resources(tf, 'aws_lambda_function')).find((f) => f.function_name === fn.functionName);
  if (!resource) throw new Error(`no function ${fn.functionName} in the stack`);
  const environment = (resource.environment as { variables: Record<string, string> }).variables;
  const packaged = unzipSync(readFileSync(fn.code.zipPath))[SETTINGS_FILE];
  if (!packaged) throw new Error(`${fn.code.zipPath} holds no ${SETTINGS_FILE}`);
  return {
    ...JSON.parse(new TextDecoder().decode(packaged)),
    ...JSON.parse(environment[SETTINGS_ENV_VAR]),
  } as RuntimeSettings;
}

/** Resources of one type, by logical name. */
export function resources(tf: SynthesizedStack, type: string): Record<string, Record<string, unknown>> {
  return tf.resource[type] ?? {};
}

/** The single resource of a type. */
export function only(tf: SynthesizedStack, type: string): Record<string, unknown> {
  const all = Object.values(resources(tf, type));
  if (all.length !== 1) throw new Error(`expected one ${type}, found ${all.length}`);
  return all[0];
}

/** One IAM policy found in the stack, parsed, with where it came from. */
export interface FoundPolicy {
  readonly where: string;
  readonly kind: 'identity' | 'trust' | 'key' | 'bucket' | 'topic';
  readonly doc: { Version: string; Statement: Array<Record<string, unknown>> };
}

/** Every policy document of the stack: role policies, trust policies, the key policy, bucket and topic policies. */
export function allPolicies(tf: SynthesizedStack): FoundPolicy[] {
  const found: FoundPolicy[] = [];
  const add = (type: string, field: string, kind: FoundPolicy['kind']) => {
    for (const [name, r] of Object.entries(resources(tf, type))) {
      found.push({ where: `${type}.${name}.${field}`, kind, doc: JSON.parse(r[field] as string) });
    }
  };
  add('aws_iam_role_policy', 'policy', 'identity');
  add('aws_iam_policy', 'policy', 'identity');
  add('aws_iam_role', 'assume_role_policy', 'trust');
  add('aws_kms_key', 'policy', 'key');
  add('aws_s3_bucket_policy', 'policy', 'bucket');
  add('aws_sns_topic_policy', 'policy', 'topic');
  return found;
}

/**
 * The permissions of a stage function's role, parsed: its inline policy's statements, followed by those of the
 * managed policies attached to the role (which hold what does not fit inline, for large configurations).
 */
export function stagePolicy(tf: SynthesizedStack, stage: string): { Statement: Array<Record<string, unknown>> } {
  const entry = Object.entries(resources(tf, 'aws_iam_role_policy')).find(([, r]) => r.name === `${stage}-stage`);
  if (!entry) throw new Error(`no role policy for stage ${stage}`);
  const role = entry[1].role;
  const attached = Object.values(resources(tf, 'aws_iam_role_policy_attachment'))
    .filter((a) => a.role === role)
    .map((a) => {
      const name = /^\$\{aws_iam_policy\.([^.]+)\.arn\}$/.exec(String(a.policy_arn))?.[1];
      const managed = name ? resources(tf, 'aws_iam_policy')[name] : undefined;
      if (!managed) throw new Error(`${stage}: attachment of ${String(a.policy_arn)}, not a policy of the stack`);
      return JSON.parse(managed.policy as string) as { Statement: Array<Record<string, unknown>> };
    });
  const inline = JSON.parse(entry[1].policy as string) as { Statement: Array<Record<string, unknown>> };
  return { Statement: [...inline.Statement, ...attached.flatMap((d) => d.Statement)] };
}

/** Actions of a statement as a list. */
export function actionsOf(s: Record<string, unknown>): string[] {
  return [s.Action as string | string[]].flat();
}

/** Resources of a statement as a list. */
export function resourcesOf(s: Record<string, unknown>): string[] {
  return s.Resource === undefined ? [] : [s.Resource as string | string[]].flat();
}
