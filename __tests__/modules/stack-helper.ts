import { type App, Testing } from 'cdktf';
import { parseConfig } from '../../config/load';
import type { PipelineConfig, PipelineConfigInput } from '../../config/schema';
import example from '../../config/example.json';
import { STAGES } from '../../modules/export-pipeline';
import { bundleLambdas, type LambdaZip } from '../../modules/lambda-bundle';
import { PipelineStack, type PipelineStackProps } from '../../modules/pipeline-stack';

/** A synthesized stack as Terraform JSON. */
export interface SynthesizedStack {
  readonly resource: Record<string, Record<string, Record<string, unknown>>>;
  readonly data: Record<string, Record<string, Record<string, unknown>>>;
  readonly output: Record<string, { value: unknown; description?: string }>;
  readonly terraform: Record<string, unknown>;
  readonly provider: Record<string, Record<string, unknown>[]>;
}

export const FIXTURE_ENTRY = '__tests__/fixtures/handler.ts';

let fixtureCode: Map<string, LambdaZip> | undefined;

/** Every stage bundled from the small fixture handler, once per test file: structure tests need no real handler. */
export function fixtureBundles(): Map<string, LambdaZip> {
  fixtureCode ??= bundleLambdas(STAGES.map((name) => ({ name, entry: FIXTURE_ENTRY })));
  return fixtureCode;
}

/** The example configuration, optionally changed. */
export function exampleConfig(change: (c: PipelineConfigInput) => PipelineConfigInput = (c) => c): PipelineConfig {
  return parseConfig(change(structuredClone(example) as PipelineConfigInput), 'config/example.json');
}

/** Builds the pipeline stack from a configuration and returns the stack and its synthesized JSON. */
export function synthStack(config: PipelineConfig = exampleConfig(), extra: Partial<PipelineStackProps> = {}) {
  const app: App = Testing.app();
  const stack = new PipelineStack(app, 'pipeline', { config, code: fixtureBundles(), ...extra });
  const json = Testing.synth(stack);
  return { stack, json, tf: JSON.parse(json) as SynthesizedStack };
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
  add('aws_iam_role', 'assume_role_policy', 'trust');
  add('aws_kms_key', 'policy', 'key');
  add('aws_s3_bucket_policy', 'policy', 'bucket');
  add('aws_sns_topic_policy', 'policy', 'topic');
  return found;
}

/** The role policy of a stage function, parsed. */
export function stagePolicy(tf: SynthesizedStack, stage: string): { Statement: Array<Record<string, unknown>> } {
  const entry = Object.entries(resources(tf, 'aws_iam_role_policy')).find(([, r]) => r.name === `${stage}-stage`);
  if (!entry) throw new Error(`no role policy for stage ${stage}`);
  return JSON.parse(entry[1].policy as string);
}

/** Actions of a statement as a list. */
export function actionsOf(s: Record<string, unknown>): string[] {
  return [s.Action as string | string[]].flat();
}

/** Resources of a statement as a list. */
export function resourcesOf(s: Record<string, unknown>): string[] {
  return s.Resource === undefined ? [] : [s.Resource as string | string[]].flat();
}
