import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESOURCELESS_ACTIONS } from '../../modules/stage-permissions';
import { actionsOf, allPolicies, exampleConfig, resourcesOf, synthStack } from './stack-helper';

/** Read-only verbs; every other action counts as a write. */
const READ_ONLY = /^[a-z0-9-]+:(Describe|List|Get)[A-Za-z]*$/;

/**
 * AWS's default key policy statement: `kms:*` on the key for the account principal, unconditioned. It hands the
 * key to IAM (AWS KMS guide, "Default key policy"); every other principal of a key policy gets named actions.
 */
function isDefaultKeyStatement(kind: string, s: Record<string, unknown>): boolean {
  const principal = (s.Principal as { AWS?: unknown } | undefined)?.AWS;
  return (
    kind === 'key' &&
    actionsOf(s).join() === 'kms:*' &&
    typeof principal === 'string' &&
    /^arn:[^:]+:iam::[^:]+:root$/.test(principal) &&
    s.Condition === undefined
  );
}

function lint(tf: ReturnType<typeof synthStack>['tf']): string[] {
  const problems: string[] = [];
  for (const { where, kind, doc } of allPolicies(tf)) {
    expect(doc.Version).toBe('2012-10-17');
    doc.Statement.forEach((s, i) => {
      const at = `${where}[${i}]${s.Sid ? ` (${s.Sid})` : ''}`;
      if (s.Effect !== 'Allow') return;
      for (const action of actionsOf(s)) {
        if (isDefaultKeyStatement(kind, s)) continue;
        if (action === '*' || /^[a-z0-9-]+:\*$/.test(action)) problems.push(`${at} allows ${action}`);
      }
      // In a key policy "*" means the key itself; elsewhere it means everything.
      if (kind !== 'key' && resourcesOf(s).includes('*')) {
        for (const action of actionsOf(s)) {
          if (READ_ONLY.test(action)) continue;
          const resourceless = (RESOURCELESS_ACTIONS as readonly string[]).includes(action);
          const regionBound = JSON.stringify(s.Condition ?? {}).includes('aws:RequestedRegion');
          if (!(resourceless && regionBound)) problems.push(`${at} allows write action ${action} on resource *`);
        }
      }
    });
  }
  return problems;
}

describe('IAM lint', () => {
  it('finds no wildcard action and no write on every resource in the example stack', () => {
    const { tf } = synthStack();
    expect(allPolicies(tf).length).toBeGreaterThan(15);
    expect(lint(tf)).toEqual([]);
  });

  it('finds none either with a bucket destination, no destination key and ACLs', () => {
    const { tf } = synthStack(
      exampleConfig((c) => ({
        ...c,
        destination: {
          bucket: 'client-lake',
          expectedOwnerAccountId: '210987654321',
          aclMode: 'bucket-owner-full-control',
        },
        restore: { vpcSecurityGroupIds: [] },
      })),
    );
    expect(lint(tf)).toEqual([]);
  });

  it('would catch a service-wide wildcard', () => {
    const { tf } = synthStack();
    const [name] = Object.keys(tf.resource.aws_iam_role_policy);
    tf.resource.aws_iam_role_policy[name].policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: ['rds:*'], Resource: 'arn:aws:rds:eu-west-1:123456789012:cluster:x' },
        { Effect: 'Allow', Action: 's3:PutObject', Resource: '*' },
      ],
    });
    expect(lint(tf)).toEqual([
      expect.stringContaining('allows rds:*'),
      expect.stringContaining('write action s3:PutObject on resource *'),
    ]);
  });
  it('accepts kms:* in a key policy only as the account principal’s unconditioned default statement', () => {
    const { tf } = synthStack();
    const [name] = Object.keys(tf.resource.aws_kms_key);
    const key = JSON.parse(tf.resource.aws_kms_key[name].policy as string);
    tf.resource.aws_kms_key[name].policy = JSON.stringify({
      ...key,
      Statement: [
        ...key.Statement,
        { Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::123456789012:role/app' }, Action: 'kms:*', Resource: '*' },
      ],
    });
    expect(lint(tf)).toEqual([expect.stringMatching(/aws_kms_key\..+\[\d+\] allows kms:\*$/)]);
  });
});

describe('Bucket and topic policies as AWS returns them', () => {
  // S3 and SNS hand a stored policy back with every condition value as a string ("false", not false); a
  // document written otherwise differs from what Terraform reads back on every refresh.
  const nonStringValues = (tf: ReturnType<typeof synthStack>['tf']) =>
    allPolicies(tf)
      .filter((p) => p.kind === 'bucket' || p.kind === 'topic')
      .flatMap(({ where, doc }) =>
        doc.Statement.flatMap((s) =>
          Object.entries((s.Condition ?? {}) as Record<string, Record<string, unknown>>).flatMap(([op, keys]) =>
            Object.entries(keys)
              .filter(([, v]) => [v].flat().some((x) => typeof x !== 'string'))
              .map(([k, v]) => `${where}: ${op} ${k} = ${JSON.stringify(v)}`),
          ),
        ),
      );

  it('writes every condition value of a bucket or topic policy as a string', () => {
    const { tf } = synthStack();
    expect(allPolicies(tf).filter((p) => p.kind === 'bucket' || p.kind === 'topic').length).toBeGreaterThan(2);
    expect(nonStringValues(tf)).toEqual([]);
  });

  it('would catch a boolean condition value', () => {
    const { tf } = synthStack();
    const [name] = Object.keys(tf.resource.aws_s3_bucket_policy);
    tf.resource.aws_s3_bucket_policy[name].policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Deny',
          Principal: '*',
          Action: 's3:*',
          Resource: '*',
          Condition: { Bool: { 'aws:SecureTransport': false } },
        },
      ],
    });
    expect(nonStringValues(tf)).toEqual([expect.stringContaining('Bool aws:SecureTransport = false')]);
  });
});

describe('Imports of the AWS provider', () => {
  it('never come from the @cdktf/provider-aws barrel, only from deep paths', () => {
    const root = join(__dirname, '..', '..');
    const files = execFileSync(
      'git',
      ['ls-files', '--cached', '--others', '--exclude-standard', '*.ts', '*.js', '*.mjs', '*.cjs'],
      { cwd: root, encoding: 'utf8' },
    )
      .split('\n')
      .filter(Boolean);
    expect(files.length).toBeGreaterThan(10);
    const barrel = /(from\s+|require\(\s*|import\(\s*)['"]@cdktf\/provider-aws(\/lib)?\/?['"]/;
    const offenders = files.filter((f) => {
      try {
        return barrel.test(readFileSync(join(root, f), 'utf8'));
      } catch {
        return false;
      }
    });
    expect(offenders).toEqual([]);
  });
});
