import { Testing } from 'cdktf';
import { SnsTopic } from '@cdktf/provider-aws/lib/sns-topic';
import { jsonExpression } from '../../modules/iam';
import { decodeJsonencode } from '../support/terraform-expressions';
import { allPolicies, exampleConfig, resources, synthStack, type SynthesizedStack } from './stack-helper';

/**
 * What a reviewer reads in the first plan of a fresh environment: every policy document is built from names the
 * stack chooses and data sources Terraform reads at plan, never from an attribute of a resource not yet created.
 * (The real plan is checked in __tests__/terraform; these checks run without Terraform.)
 */

/** Data sources read at plan: partition, region and account. */
const READ_AT_PLAN = /^data\.aws_(partition|region|caller_identity)\./;

/** Terraform references inside a text (`${type.name.attribute}`). */
function referencesIn(text: string): string[] {
  return [...text.matchAll(/\$\{([^}]+)\}/g)].map((m) => m[1]);
}

/** Resource policies (key, bucket, topic and queue policies): the AWS principals they name must exist first. */
const RESOURCE_POLICY_TYPES = ['aws_kms_key', 'aws_s3_bucket_policy', 'aws_sns_topic_policy', 'aws_sqs_queue_policy'];

/** `type.name` of every resource a resource waits for: its depends_on and the references in its arguments. */
function dependenciesOf(tf: SynthesizedStack, address: string): string[] {
  const [type, name] = address.split('.');
  const { depends_on: dependsOn, ...args } = tf.resource[type][name] as { depends_on?: string[] };
  const referenced = referencesIn(JSON.stringify(args))
    .filter((r) => !r.startsWith('data.'))
    .map((r) => /^[\w-]+\.[\w-]+/.exec(r)?.[0] ?? r);
  const all = [...new Set([...(dependsOn ?? []), ...referenced])];
  const dangling = all.filter((d) => {
    const [t, n] = d.split('.');
    return !tf.resource[t]?.[n];
  });
  if (dangling.length > 0) throw new Error(`${address} waits for ${dangling.join(', ')}, not resources of the stack`);
  return all;
}

/** Whether `from` is created after `to`: a path of dependencies leads from one to the other. */
function createdAfter(tf: SynthesizedStack, from: string, to: string): boolean {
  const seen = new Set<string>();
  const queue = [from];
  while (queue.length > 0) {
    const at = queue.shift() as string;
    if (at === to) return true;
    if (seen.has(at)) continue;
    seen.add(at);
    queue.push(...dependenciesOf(tf, at));
  }
  return false;
}

/** The stack's roles by the ARN a policy names them with (`arn:${partition}:iam::${account}:role/<name>`). */
function rolesByName(tf: SynthesizedStack): Map<string, string> {
  return new Map(
    Object.entries(resources(tf, 'aws_iam_role')).map(([id, r]) => [String(r.name), `aws_iam_role.${id}`]),
  );
}

function awsPrincipals(statement: Record<string, unknown>): string[] {
  const principal = statement.Principal as { AWS?: string | string[] } | string | undefined;
  return typeof principal === 'object' && principal.AWS ? [principal.AWS].flat() : [];
}

describe('First plan of a fresh environment', () => {
  const configs = {
    'the example': exampleConfig(),
    'a bucket destination with an extra alert topic': exampleConfig((c) => ({
      ...c,
      destination: { bucket: 'client-lake', expectedOwnerAccountId: '210987654321', aclMode: 'none' },
      notifications: { ...c.notifications, topicArn: 'arn:aws:sns:eu-west-1:444455556666:ops-alerts' },
    })),
  };

  describe.each(Object.entries(configs))('with %s', (_, config) => {
    const { tf } = synthStack(config);

    it('builds every policy document from names and data sources read at plan, no resource attribute', () => {
      const policies = allPolicies(tf);
      expect(policies.length).toBeGreaterThan(15);
      const late = policies.flatMap(({ where, doc }) =>
        referencesIn(JSON.stringify(doc))
          .filter((r) => !READ_AT_PLAN.test(r))
          .map((r) => `${where}: ${r}`),
      );
      expect(late).toEqual([]);
    });

    it('creates every role a resource policy names before that policy', () => {
      const roles = rolesByName(tf);
      const checked: string[] = [];
      const missing: string[] = [];
      for (const type of RESOURCE_POLICY_TYPES) {
        for (const [id, r] of Object.entries(resources(tf, type))) {
          const doc = JSON.parse(String(r.policy)) as { Statement: Record<string, unknown>[] };
          for (const arn of doc.Statement.flatMap(awsPrincipals)) {
            const name = /:role\/(.+)$/.exec(arn)?.[1];
            if (!name) continue; // the account root exists already
            const role = roles.get(name);
            if (!role) {
              missing.push(`${type}.${id} names ${arn}, not a role of the stack`);
              continue;
            }
            checked.push(`${type}.${id} → ${role}`);
            if (!createdAfter(tf, `${type}.${id}`, role)) missing.push(`${type}.${id} is not created after ${role}`);
          }
        }
      }
      expect(missing).toEqual([]);
      // The key policy names the seven stage roles and the export role.
      expect(checked.filter((c) => c.startsWith('aws_kms_key.')).length).toBeGreaterThanOrEqual(8);
    });

    it('narrows identity policies on the pipeline key to the key that carries its alias', () => {
      const onKeys = allPolicies(tf)
        .filter(({ kind }) => kind === 'identity')
        .flatMap(({ where, doc }) =>
          doc.Statement.filter((s) =>
            [s.Resource].flat().some((r) => String(r).includes(':kms:') && /key\/\*$/.test(String(r))),
          ).map((s) => ({ where, s })),
        );
      expect(onKeys.length).toBeGreaterThanOrEqual(8);
      for (const { s } of onKeys) {
        expect([s.Resource].flat()).toHaveLength(1);
        expect(s.Condition).toMatchObject({
          'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [`alias/${config.namePrefix}`] },
        });
      }
      expect(Object.values(resources(tf, 'aws_kms_alias')).map((a) => a.name)).toEqual([`alias/${config.namePrefix}`]);
    });
  });
});

describe('Terraform expressions written for policies and settings', () => {
  it('reads back a jsonencode(...) expression as the JSON it encodes, references and special characters included', () => {
    const value = {
      Sid: 'quote " backslash \\ newline \n tab \t',
      literal: 'not ${a.reference} nor %{ a directive }',
      list: ['b', 'a'],
      flag: true,
      count: 3,
    };
    const synthesized = JSON.parse(
      Testing.synthScope((scope) => {
        const topic = new SnsTopic(scope, 'topic', { name: 'x' });
        new SnsTopic(scope, 'policy-holder', {
          name: 'y',
          policy: jsonExpression({ ...value, Resource: `${topic.arn}/x` }),
        });
      }),
    ) as SynthesizedStack;
    const policy = String(resources(synthesized, 'aws_sns_topic')['policy-holder'].policy);
    expect(policy.startsWith('${jsonencode(')).toBe(true);
    expect(JSON.parse(decodeJsonencode(policy))).toEqual({ ...value, Resource: '${aws_sns_topic.topic.arn}/x' });
  });
});
