/**
 * A small IAM policy evaluator for tests: does a policy document allow one request (action, resource,
 * request context, and for resource policies the calling principal)?
 *
 * What it implements, as IAM documents it:
 * - Effect: an explicit Deny wins over any Allow; no matching Allow is an implicit deny.
 * - Action / NotAction: case-insensitive, with the `*` and `?` wildcards.
 * - Resource / NotResource: case-sensitive, `*` and `?` wildcards. The request's resource is taken literally:
 *   a request on `cluster:*` (a list call) matches a statement on `cluster:*` but not one on `cluster:tmp-*`.
 * - Principal (resource policies): `*`, `AWS` and `Service` principals, compared exactly.
 * - Condition: every operator in a block must match, every key in an operator, and any value of a key. The
 *   operators are the String, Arn and Bool families and Null, each with the `IfExists` suffix, and the
 *   `ForAnyValue:` / `ForAllValues:` set prefixes. A key missing from the request context does not match
 *   (a negated operator, or `...IfExists`, matches), exactly as IAM evaluates it: the evaluator never assumes
 *   a condition holds. An operator it does not know fails the evaluation with an error instead of guessing.
 *
 * It does not evaluate policy variables (`${aws:username}`): a string still holding `${` is an error, which
 * also catches a Terraform token left unresolved.
 */

/** A condition block as it appears in a policy. */
export type PolicyCondition = Record<
  string,
  Record<string, string | boolean | number | readonly (string | boolean | number)[]>
>;

/** One statement, loosely typed as parsed from JSON. */
export interface PolicyStatementJson {
  readonly Sid?: string;
  readonly Effect: string;
  readonly Principal?: '*' | Record<string, string | readonly string[]>;
  readonly Action?: string | readonly string[];
  readonly NotAction?: string | readonly string[];
  readonly Resource?: string | readonly string[];
  readonly NotResource?: string | readonly string[];
  readonly Condition?: PolicyCondition;
}

/** A policy document, loosely typed as parsed from JSON. */
export interface PolicyDocumentJson {
  readonly Statement: readonly PolicyStatementJson[];
}

/** Values of the request context: a string, a boolean, or a set of strings (multi-valued keys). */
export type ContextValue = string | boolean | readonly string[];

/** One request as IAM sees it. */
export interface AuthzRequest {
  readonly action: string;
  readonly resource: string;
  /** Condition keys of the request (`aws:RequestedRegion`, `s3:prefix`...). Keys are case-insensitive. */
  readonly context?: Readonly<Record<string, ContextValue>>;
  /** The caller, for resource policies (key, bucket, access point policies). */
  readonly principal?: { readonly type: 'AWS' | 'Service'; readonly id: string };
}

/** The outcome, with the statements that decided it. */
export interface AuthzDecision {
  readonly decision: 'allow' | 'explicit-deny' | 'implicit-deny';
  /** Sids (or indexes) of the statements that allowed or denied. */
  readonly by: readonly string[];
}

const list = <T>(v: T | readonly T[] | undefined): T[] =>
  v === undefined ? [] : Array.isArray(v) ? [...(v as T[])] : [v as T];

/** Matches `value` against an IAM pattern with `*` (any run of characters) and `?` (one character). */
export function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, ignoreCase ? 'is' : 's').test(value);
}

function assertResolved(where: string, value: string): void {
  if (value.includes('${')) throw new Error(`${where} holds an unresolved token or policy variable: ${value}`);
}

function actionMatches(s: PolicyStatementJson, action: string): boolean {
  if (s.Action !== undefined) return list(s.Action).some((p) => wildcardMatch(p, action, true));
  if (s.NotAction !== undefined) return !list(s.NotAction).some((p) => wildcardMatch(p, action, true));
  return false;
}

function resourceMatches(s: PolicyStatementJson, resource: string): boolean {
  if (s.Resource !== undefined) {
    return list(s.Resource).some((p) => {
      assertResolved('Resource', p);
      return wildcardMatch(p, resource);
    });
  }
  if (s.NotResource !== undefined) return !list(s.NotResource).some((p) => wildcardMatch(p, resource));
  return false;
}

function principalMatches(s: PolicyStatementJson, principal: AuthzRequest['principal']): boolean {
  if (s.Principal === undefined) return true; // identity policy: the principal is whoever holds it
  if (!principal) throw new Error(`statement ${s.Sid ?? ''} names a principal; the request must name its caller`);
  if (s.Principal === '*') return true;
  const named = list(s.Principal[principal.type]);
  return named.some((p) => {
    assertResolved('Principal', p);
    return p === '*' || p === principal.id;
  });
}

type Comparator = (policyValue: string, requestValue: string) => boolean;

const COMPARATORS: Record<string, { compare: Comparator; negated: boolean }> = {
  StringEquals: { compare: (p, r) => p === r, negated: false },
  StringNotEquals: { compare: (p, r) => p === r, negated: true },
  StringEqualsIgnoreCase: { compare: (p, r) => p.toLowerCase() === r.toLowerCase(), negated: false },
  StringNotEqualsIgnoreCase: { compare: (p, r) => p.toLowerCase() === r.toLowerCase(), negated: true },
  StringLike: { compare: (p, r) => wildcardMatch(p, r), negated: false },
  StringNotLike: { compare: (p, r) => wildcardMatch(p, r), negated: true },
  ArnEquals: { compare: (p, r) => p === r, negated: false },
  ArnNotEquals: { compare: (p, r) => p === r, negated: true },
  ArnLike: { compare: (p, r) => wildcardMatch(p, r), negated: false },
  ArnNotLike: { compare: (p, r) => wildcardMatch(p, r), negated: true },
  Bool: { compare: (p, r) => p.toLowerCase() === r.toLowerCase(), negated: false },
};

function contextValue(context: AuthzRequest['context'], key: string): ContextValue | undefined {
  if (!context) return undefined;
  const found = Object.keys(context).find((k) => k.toLowerCase() === key.toLowerCase());
  return found === undefined ? undefined : context[found];
}

function operatorMatches(
  operator: string,
  key: string,
  policyValues: readonly string[],
  context: AuthzRequest['context'],
): boolean {
  let op = operator;
  let set: 'any' | 'all' | undefined;
  if (op.startsWith('ForAnyValue:')) [set, op] = ['any', op.slice('ForAnyValue:'.length)];
  else if (op.startsWith('ForAllValues:')) [set, op] = ['all', op.slice('ForAllValues:'.length)];
  const ifExists = op.endsWith('IfExists');
  if (ifExists) op = op.slice(0, -'IfExists'.length);
  const raw = contextValue(context, key);

  if (op === 'Null') {
    const wantsMissing = policyValues.some((v) => v.toLowerCase() === 'true');
    return wantsMissing === (raw === undefined);
  }
  const comparator = COMPARATORS[op];
  if (!comparator) throw new Error(`condition operator ${operator} is not supported by this evaluator`);
  if (raw === undefined) {
    if (set === 'all') return true; // ForAllValues over an empty set is true, as IAM documents
    return ifExists || comparator.negated;
  }
  const requestValues = list(raw as string | boolean | readonly string[]).map(String);
  const anyPolicyValue = (r: string) => policyValues.some((p) => comparator.compare(p, r));
  if (set === 'all') return requestValues.every((r) => (comparator.negated ? !anyPolicyValue(r) : anyPolicyValue(r)));
  if (set === 'any' || requestValues.length > 0) {
    const some = requestValues.some(anyPolicyValue);
    return comparator.negated ? !some : some;
  }
  return false;
}

function conditionMatches(s: PolicyStatementJson, context: AuthzRequest['context']): boolean {
  for (const [operator, keys] of Object.entries(s.Condition ?? {})) {
    for (const [key, values] of Object.entries(keys)) {
      const policyValues = list(values as string | readonly string[]).map(String);
      policyValues.forEach((v) => {
        assertResolved(`Condition ${operator} ${key}`, v);
      });
      if (!operatorMatches(operator, key, policyValues, context)) return false;
    }
  }
  return true;
}

/** Evaluates one policy document for one request. */
export function evaluatePolicy(doc: PolicyDocumentJson, request: AuthzRequest): AuthzDecision {
  assertResolved('request resource', request.resource);
  const allows: string[] = [];
  const denies: string[] = [];
  doc.Statement.forEach((s, i) => {
    const id = s.Sid ?? `#${i}`;
    if (
      !actionMatches(s, request.action) ||
      !resourceMatches(s, request.resource) ||
      !principalMatches(s, request.principal)
    )
      return;
    if (!conditionMatches(s, request.context)) return;
    if (s.Effect === 'Deny') denies.push(id);
    else if (s.Effect === 'Allow') allows.push(id);
    else throw new Error(`statement ${id} has Effect ${s.Effect}`);
  });
  if (denies.length > 0) return { decision: 'explicit-deny', by: denies };
  if (allows.length > 0) return { decision: 'allow', by: allows };
  return { decision: 'implicit-deny', by: [] };
}

/** True when the document allows the request. */
export function isAllowed(doc: PolicyDocumentJson, request: AuthzRequest): boolean {
  return evaluatePolicy(doc, request).decision === 'allow';
}

/** Actions a document allows (as written, wildcards included), for the reverse check. */
export function allowedActions(doc: PolicyDocumentJson): string[] {
  return [...new Set(doc.Statement.filter((s) => s.Effect === 'Allow').flatMap((s) => list(s.Action)))].sort();
}

/**
 * Replaces every `${...}` Terraform token of a policy JSON string with its concrete value. Returns the
 * tokens it could not resolve, so a caller can fail on them instead of evaluating a half-resolved policy.
 */
export function resolveTokens(
  text: string,
  resolve: (token: string) => string | undefined,
): { text: string; unresolved: string[] } {
  const unresolved = new Set<string>();
  const out = text.replace(/\$\{([^}]+)\}/g, (whole, inner: string) => {
    const value = resolve(inner);
    if (value === undefined) {
      unresolved.add(whole);
      return whole;
    }
    return value;
  });
  return { text: out, unresolved: [...unresolved].sort() };
}
