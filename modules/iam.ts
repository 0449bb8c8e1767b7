import { Fn } from 'cdktf';

/**
 * IAM policy documents as plain data. Every policy of the stack is written through these types and rendered
 * with {@link policyDocument} (Terraform's `jsonencode`), so tests can parse each synthesized policy and lint it
 * statement by statement, and the HCL output is valid; {@link policyJson} is the same document as JSON text, for
 * measuring it against IAM's size limits.
 */

/** A condition block: operator → key → value(s). */
export type Condition = Readonly<Record<string, Readonly<Record<string, string | boolean | readonly string[]>>>>;

/** One statement of an identity, key, bucket or topic policy. */
export interface Statement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Principal?: '*' | Readonly<Record<string, string | readonly string[]>>;
  readonly Action: string | readonly string[];
  /** Absent only in trust policies. */
  readonly Resource?: string | readonly string[];
  readonly Condition?: Condition;
}

/** A policy document. */
export interface PolicyDocument {
  readonly Version: '2012-10-17';
  readonly Statement: readonly Statement[];
}

/** Renders statements as a policy JSON string; Terraform tokens inside strings resolve in place. */
export function policyJson(statements: readonly Statement[]): string {
  const doc: PolicyDocument = { Version: '2012-10-17', Statement: statements.map(normalize) };
  return JSON.stringify(doc);
}

/**
 * The policy document of `statements` as a Terraform `jsonencode(...)` expression: references stay expressions
 * (no JSON text with references spliced into it, which `cdktf synth --hcl` cannot write as valid HCL), and a
 * document whose references are all known at plan is itself known at plan.
 */
export function policyDocument(statements: readonly Statement[]): string {
  return jsonExpression({ Version: '2012-10-17', Statement: statements.map(normalize) });
}

/**
 * Any JSON value as a Terraform `jsonencode(...)` expression. cdktf writes strings into that expression as they
 * are, so characters an HCL string reads specially (backslash, quote, control characters, `%{` directives) are
 * escaped here; Terraform references (`${...}`) hold none of them and stay references.
 */
export function jsonExpression(value: unknown): string {
  return Fn.jsonencode(hclStrings(value));
}

function hclStrings(value: unknown): unknown {
  if (typeof value === 'string') return hclString(value);
  if (Array.isArray(value)) return value.map(hclStrings);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [hclString(k), hclStrings(v)]),
    );
  return value;
}

function hclString(s: string): string {
  return s
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(/\t/g, '\\t')
    .replace(/%\{/g, '%%{');
}

function sortedUnique(values: string | readonly string[]): string | string[] {
  if (typeof values === 'string') return values;
  const unique = [...new Set(values)].sort();
  return unique.length === 1 ? unique[0] : unique;
}

function normalize(s: Statement): Statement {
  return {
    ...s,
    Action: sortedUnique(s.Action),
    ...(s.Resource === undefined ? {} : { Resource: sortedUnique(s.Resource) }),
  };
}

/** A statement allowing `actions` on `resources` (an identity policy statement: no principal). */
export function allow(
  sid: string,
  actions: readonly string[],
  resources: readonly string[],
  condition?: Condition,
): Statement {
  return {
    Sid: sid,
    Effect: 'Allow',
    Action: actions,
    Resource: resources,
    ...(condition ? { Condition: condition } : {}),
  };
}

/** The trust policy of a role assumed by an AWS service. */
export function serviceTrustPolicy(service: string, condition?: Condition): string {
  return policyDocument([
    {
      Effect: 'Allow',
      Principal: { Service: service },
      Action: 'sts:AssumeRole',
      ...(condition ? { Condition: condition } : {}),
    },
  ]);
}
