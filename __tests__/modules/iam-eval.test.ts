import {
  allowedActions,
  evaluatePolicy,
  resolveTokens,
  wildcardMatch,
  type PolicyDocumentJson,
} from '../support/iam-eval';

const ROLE = 'arn:aws:iam::123456789012:role/sim-copy';

describe('IAM evaluator', () => {
  it('matches * and ? wildcards, actions without case and resources with it', () => {
    expect(wildcardMatch('arn:aws:rds:*:123:cluster:tmp-*', 'arn:aws:rds:eu-west-1:123:cluster:tmp-abc')).toBe(true);
    expect(wildcardMatch('s3:Get?bject', 's3:GetObject')).toBe(true);
    expect(wildcardMatch('s3:Get?bject', 's3:GetObjectAcl')).toBe(false);
    expect(wildcardMatch('arn:aws:s3:::b/Key*', 'arn:aws:s3:::b/key1')).toBe(false);
    const doc: PolicyDocumentJson = {
      Statement: [{ Effect: 'Allow', Action: 'S3:getobject', Resource: 'arn:aws:s3:::b/*' }],
    };
    expect(evaluatePolicy(doc, { action: 's3:GetObject', resource: 'arn:aws:s3:::b/k' }).decision).toBe('allow');
  });

  it('takes the request resource literally: a list call on cluster:* needs a grant on cluster:*', () => {
    const doc: PolicyDocumentJson = {
      Statement: [
        { Effect: 'Allow', Action: 'rds:DescribeDBClusters', Resource: 'arn:aws:rds:eu-west-1:1:cluster:tmp-*' },
      ],
    };
    expect(
      evaluatePolicy(doc, { action: 'rds:DescribeDBClusters', resource: 'arn:aws:rds:eu-west-1:1:cluster:*' }).decision,
    ).toBe('implicit-deny');
  });

  it('lets an explicit deny win over an allow', () => {
    const doc: PolicyDocumentJson = {
      Statement: [
        { Sid: 'A', Effect: 'Allow', Action: 'sns:Publish', Resource: '*' },
        {
          Sid: 'D',
          Effect: 'Deny',
          Action: 'sns:*',
          Resource: '*',
          Condition: { Bool: { 'aws:SecureTransport': false } },
        },
      ],
    };
    expect(
      evaluatePolicy(doc, { action: 'sns:Publish', resource: 't', context: { 'aws:SecureTransport': false } }),
    ).toEqual({ decision: 'explicit-deny', by: ['D'] });
    expect(
      evaluatePolicy(doc, { action: 'sns:Publish', resource: 't', context: { 'aws:SecureTransport': true } }),
    ).toEqual({ decision: 'allow', by: ['A'] });
  });

  it('evaluates conditions as IAM does: a missing key fails a positive operator, passes a negated one and IfExists', () => {
    const allowIf = (Condition: Record<string, Record<string, string | string[]>>): PolicyDocumentJson => ({
      Statement: [{ Effect: 'Allow', Action: 's3:ListBucket', Resource: '*', Condition }],
    });
    const req = (context: Record<string, string> = {}) => ({
      action: 's3:ListBucket',
      resource: 'arn:aws:s3:::b',
      context,
    });
    expect(
      evaluatePolicy(
        allowIf({ StringLike: { 's3:prefix': ['exports', 'exports/*'] } }),
        req({ 's3:prefix': 'exports/r/1' }),
      ).decision,
    ).toBe('allow');
    expect(
      evaluatePolicy(allowIf({ StringLike: { 's3:prefix': ['exports', 'exports/*'] } }), req({ 's3:prefix': 'other/' }))
        .decision,
    ).toBe('implicit-deny');
    expect(evaluatePolicy(allowIf({ StringLike: { 's3:prefix': 'exports/*' } }), req()).decision).toBe('implicit-deny');
    expect(evaluatePolicy(allowIf({ StringNotEquals: { 's3:prefix': 'x' } }), req()).decision).toBe('allow');
    expect(evaluatePolicy(allowIf({ StringEqualsIfExists: { 's3:prefix': 'x' } }), req()).decision).toBe('allow');
    expect(evaluatePolicy(allowIf({ Null: { 's3:prefix': 'true' } }), req()).decision).toBe('allow');
    expect(
      evaluatePolicy(
        allowIf({ ArnLike: { 'aws:SourceArn': 'arn:aws:logs:*:1:log-group:/aws/lambda/sim-*' } }),
        req({ 'aws:SourceArn': 'arn:aws:logs:eu-west-1:1:log-group:/aws/lambda/sim-copy' }),
      ).decision,
    ).toBe('allow');
    expect(() =>
      evaluatePolicy(allowIf({ NumericLessThan: { 's3:max-keys': '10' } }), req({ 's3:max-keys': '5' })),
    ).toThrow(/not supported/);
  });

  it('matches principals of resource policies', () => {
    const doc: PolicyDocumentJson = {
      Statement: [{ Effect: 'Allow', Principal: { AWS: [ROLE] }, Action: 'kms:Decrypt', Resource: '*' }],
    };
    expect(
      evaluatePolicy(doc, {
        action: 'kms:Decrypt',
        resource: 'arn:aws:kms:eu-west-1:1:key/k',
        principal: { type: 'AWS', id: ROLE },
      }).decision,
    ).toBe('allow');
    expect(
      evaluatePolicy(doc, {
        action: 'kms:Decrypt',
        resource: 'arn:aws:kms:eu-west-1:1:key/k',
        principal: { type: 'AWS', id: `${ROLE}-other` },
      }).decision,
    ).toBe('implicit-deny');
  });

  it('refuses to evaluate a policy with an unresolved token, and resolves tokens it is given', () => {
    const doc: PolicyDocumentJson = {
      Statement: [{ Effect: 'Allow', Action: 'sqs:SendMessage', Resource: '${aws_sqs_queue.q.arn}' }],
    };
    expect(() => evaluatePolicy(doc, { action: 'sqs:SendMessage', resource: 'arn:aws:sqs:eu-west-1:1:q' })).toThrow(
      /unresolved token/,
    );
    const { text, unresolved } = resolveTokens('{"a":"${x.y.arn}","b":"${z.w.arn}"}', (t) =>
      t === 'x.y.arn' ? 'arn:x' : undefined,
    );
    expect(text).toBe('{"a":"arn:x","b":"${z.w.arn}"}');
    expect(unresolved).toEqual(['${z.w.arn}']);
    expect(
      allowedActions({
        Statement: [
          { Effect: 'Allow', Action: ['b:X', 'a:Y'] },
          { Effect: 'Deny', Action: 'c:Z' },
        ],
      }),
    ).toEqual(['a:Y', 'b:X']);
  });
});
