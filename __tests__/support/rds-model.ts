/**
 * AWS's own rules for RDS request parameters, read at test time from the documentation that ships inside the
 * installed `@aws-sdk/client-rds` (each input member's TSDoc in `dist-types/models/*.d.ts`, generated from the
 * RDS service model). Nothing here is a hand-copied list of parameters: the checker reads, for every member a
 * request sends,
 *
 * - its "Valid for: …" (or "Valid for Cluster Type: …") line: a member not valid for Aurora DB clusters fails;
 * - its stated companions ("… the `X` parameter must also be specified", "You must also specify `X`", "must be
 *   used together with `X`"): a member sent without its companion fails, unless the sentence's condition is one
 *   the checker can evaluate and it does not hold;
 * - its exclusions ("can't be used in conjunction with the `X` parameter"): both sent fails.
 *
 * The model documents some members differently on operations that set the same DB cluster setting
 * (`PubliclyAccessible` is "Multi-AZ DB clusters only" on CreateDBCluster and RestoreDBClusterToPointInTime but
 * "Aurora DB clusters and Multi-AZ DB clusters" on RestoreDBClusterFromSnapshot). Where it contradicts itself,
 * the narrowest reading any of those operations documents holds: only that one is safe in every reading.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** One input member of an operation, as the model documents it. */
export interface MemberDoc {
  readonly name: string;
  /** The documentation as plain text (tags dropped). */
  readonly text: string;
  /** The scope after "Valid for:" / "Valid for Cluster Type:", when the model states one. */
  readonly validFor?: string;
  /** Members the documentation says must be sent with this one, each with the sentence that says so. */
  readonly companions: readonly { readonly member: string; readonly sentence: string }[];
  /** Members the documentation says cannot be sent with this one, each with the sentence that says so. */
  readonly exclusions: readonly { readonly member: string; readonly sentence: string }[];
}

/** The input members of every RDS operation, by operation name (`RestoreDBClusterFromSnapshot`). */
export type RdsModel = ReadonlyMap<string, ReadonlyMap<string, MemberDoc>>;

/** What a request did that the model does not allow. */
export interface ModelViolation {
  readonly operation: string;
  readonly member: string;
  readonly rule: string;
}

/** Operations that set a DB cluster's own settings: the members they share document the same setting. */
const CLUSTER_SETTING_OPERATION = /^(Create|Modify|Restore)DBCluster(From[A-Z]\w*|To[A-Z]\w*)?$/;

/** `dist-types` of the installed client, found from the package the tests resolve. */
function distTypesDir(): string {
  return join(dirname(require.resolve('@aws-sdk/client-rds')), '..', 'dist-types');
}

const plain = (html: string): string =>
  html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&[a-z]+;/g, ' ')
    .replace(/\s+/g, ' ')
    .replace(/\s+([.,;:])/g, '$1')
    .trim();

/** Paragraphs and list items of a member's HTML documentation, as sentences with their `<code>` names. */
function sentencesOf(html: string): { text: string; codes: string[] }[] {
  const out: { text: string; codes: string[] }[] = [];
  for (const block of html.split(/<\/?(?:p|li|ul|note)>/)) {
    for (const sentence of block.split(/(?<=\.)\s+(?=[A-Z<])/)) {
      const text = plain(sentence);
      if (!text) continue;
      out.push({ text, codes: [...sentence.matchAll(/<code>\s*([A-Za-z0-9]+)\s*<\/code>/g)].map((m) => m[1]) });
    }
  }
  return out;
}

const COMPANION =
  /must also be specified|must also specify|must be used together with|must always be specified together/i;
const EXCLUSION = /can't be used in conjunction with|cannot be used in conjunction with|can't be specified together/i;

/** Interfaces of the models files: name → member name → raw HTML documentation. */
function readInterfaces(dir: string): Map<string, Map<string, string>> {
  const interfaces = new Map<string, Map<string, string>>();
  for (const file of readdirSync(join(dir, 'models')).filter((f) => f.endsWith('.d.ts'))) {
    let current: Map<string, string> | undefined;
    let doc: string[] | undefined;
    let lastDoc = '';
    for (const line of readFileSync(join(dir, 'models', file), 'utf8').split('\n')) {
      const open = /^export interface (\w+)(?: extends [^{]+)? \{$/.exec(line);
      if (open) {
        current = new Map();
        interfaces.set(open[1], current);
        continue;
      }
      if (!current) continue;
      if (line === '}') {
        current = undefined;
        continue;
      }
      const t = line.trim();
      if (t.startsWith('/**')) {
        doc = [];
        continue;
      }
      if (doc && t.startsWith('*/')) {
        lastDoc = doc.join(' ');
        doc = undefined;
        continue;
      }
      if (doc) {
        const body = t.replace(/^\*\s?/, '');
        if (!body.startsWith('@')) doc.push(body);
        continue;
      }
      const member = /^(\w+)\??:/.exec(t);
      if (member) {
        current.set(member[1], lastDoc);
        lastDoc = '';
      }
    }
  }
  return interfaces;
}

let cached: RdsModel | undefined;

/** The RDS model documentation of the installed client, parsed once. */
export function loadRdsModel(): RdsModel {
  if (cached) return cached;
  const dir = distTypesDir();
  const interfaces = readInterfaces(dir);
  const model = new Map<string, Map<string, MemberDoc>>();
  for (const file of readdirSync(join(dir, 'commands')).filter((f) => f.endsWith('Command.d.ts'))) {
    const src = readFileSync(join(dir, 'commands', file), 'utf8');
    const m = /export interface (\w+)CommandInput extends (\w+)\s*\{/.exec(src);
    if (!m) continue;
    const raw = interfaces.get(m[2]);
    if (!raw) continue;
    const members = new Map<string, MemberDoc>();
    for (const [name, html] of raw) {
      const sentences = sentencesOf(html);
      const related = (re: RegExp) =>
        sentences.flatMap((s) =>
          re.test(s.text)
            ? s.codes.filter((c) => c !== name && raw.has(c)).map((member) => ({ member, sentence: s.text }))
            : [],
        );
      const validFor = /Valid for(?: Cluster Type)?:\s*([^<]+)/.exec(html)?.[1].trim().replace(/\.$/, '');
      members.set(name, {
        name,
        text: plain(html),
        validFor,
        companions: related(COMPANION),
        exclusions: related(EXCLUSION),
      });
    }
    model.set(m[1], members);
  }
  cached = model;
  return model;
}

/** True when a "Valid for" scope includes Aurora DB clusters in general (not only one engine or mode of it). */
export function scopeIncludesAurora(scope: string): boolean {
  return /(^|\s)Aurora DB clusters?\b/.test(scope);
}

/**
 * The scopes the model documents for a member of `operation`: its own, and, for an operation that sets DB
 * cluster settings, the same member's on every other such operation.
 */
export function documentedScopes(
  model: RdsModel,
  operation: string,
  member: string,
): { operation: string; validFor: string }[] {
  const own = model.get(operation)?.get(member)?.validFor;
  const scopes = own ? [{ operation, validFor: own }] : [];
  if (!CLUSTER_SETTING_OPERATION.test(operation)) return scopes;
  for (const [other, members] of model) {
    if (other === operation || !CLUSTER_SETTING_OPERATION.test(other)) continue;
    const validFor = members.get(member)?.validFor;
    if (validFor) scopes.push({ operation: other, validFor });
  }
  return scopes;
}

/**
 * Conditions of companion sentences that the checker can evaluate on the member's value. A sentence whose
 * condition is not here is taken to apply whenever the member is sent (the safe reading).
 */
const CONDITIONS: readonly { readonly when: RegExp; readonly holds: (value: unknown) => boolean }[] = [
  {
    // Automated cluster snapshots are named `rds:<cluster>-<timestamp>`; an ARN ends in that name.
    when: /\bfor an automated snapshot\b/i,
    holds: (value) => typeof value === 'string' && /(^|:cluster-snapshot:)rds:/.test(value),
  },
];

const isSent = (v: unknown): boolean => v !== undefined && v !== null;

/**
 * Checks one request to RDS about an Aurora DB cluster (or its snapshots and exports) against the model:
 * every member sent must exist, be valid for Aurora DB clusters in every reading the model gives, and come
 * with the companions its documentation requires and without the members it excludes.
 */
export function checkRdsRequest(
  operation: string,
  input: Readonly<Record<string, unknown>>,
  model: RdsModel = loadRdsModel(),
): ModelViolation[] {
  const members = model.get(operation);
  if (!members)
    return [{ operation, member: '(operation)', rule: `${operation} is not an operation of the RDS model` }];
  const violations: ModelViolation[] = [];
  for (const [name, value] of Object.entries(input)) {
    if (!isSent(value)) continue;
    const doc = members.get(name);
    if (!doc) {
      violations.push({ operation, member: name, rule: `${operation} has no input member ${name}` });
      continue;
    }
    for (const scope of documentedScopes(model, operation, name)) {
      if (!scopeIncludesAurora(scope.validFor))
        violations.push({
          operation,
          member: name,
          rule: `not valid for Aurora DB clusters: ${scope.operation} documents ${name} as "Valid for: ${scope.validFor}"`,
        });
    }
    for (const c of doc.companions) {
      if (isSent(input[c.member])) continue;
      const condition = CONDITIONS.find((k) => k.when.test(c.sentence));
      if (condition && !condition.holds(value)) continue;
      violations.push({ operation, member: name, rule: `${c.member} must be sent with it: "${c.sentence}"` });
    }
    for (const x of doc.exclusions) {
      if (isSent(input[x.member]))
        violations.push({ operation, member: name, rule: `not with ${x.member}: "${x.sentence}"` });
    }
  }
  return violations;
}
