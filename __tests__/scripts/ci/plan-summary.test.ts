import {
  actionOf,
  commentMarker,
  counts,
  policyChanges,
  renderPlanComment,
  type ResourceChange,
} from '../../../scripts/ci/plan-summary';

/** Entries shaped like `resource_changes` of `terraform show -json`. */
function change(
  address: string,
  actions: string[],
  before: Record<string, unknown> | null = {},
  after: Record<string, unknown> | null = {},
  afterUnknown: Record<string, unknown> = {},
): ResourceChange {
  return {
    address,
    type: address.split('.')[0],
    change: { actions, before, after, after_unknown: afterUnknown },
  };
}

const plan: ResourceChange[] = [
  change('aws_iam_role_policy.copy_stage', ['update'], { policy: '{"a":1}' }, { policy: '{"a":2}' }),
  change('aws_kms_key.pipeline_key', ['update'], { policy: 'p', description: 'a' }, { policy: 'p', description: 'b' }),
  change('aws_sns_topic.alerts', ['update'], { policy: 'p1' }, { policy: 'p2' }),
  change('aws_sqs_queue.dlq', ['create'], null, { name: 'dlq' }, { policy: true }),
  change('aws_lambda_function.copy', ['update'], { memory_size: 512 }, { memory_size: 1024 }),
  change('aws_iam_role.export', ['delete', 'create'], { name: 'a' }, { name: 'b' }),
  change('aws_s3_bucket_policy.exports', ['delete'], { policy: 'x' }, null),
  change('aws_cloudwatch_log_group.copy', ['no-op']),
  change('data.aws_caller_identity.current', ['read']),
];

describe('Script: plan-summary', () => {
  it('reads a replacement as one action', () => {
    expect(actionOf(['delete', 'create'])).toBe('replace');
    expect(actionOf(['create', 'delete'])).toBe('replace');
    expect(actionOf(['no-op'])).toBe('no-op');
  });

  it('counts adds, changes and destroys the way terraform plan does', () => {
    expect(counts(plan)).toEqual({ add: 2, change: 4, destroy: 2 });
  });

  it('calls out IAM, key, bucket, topic and queue policy changes, and not a key or function whose policy stays', () => {
    expect(policyChanges(plan)).toEqual([
      { address: 'aws_iam_role_policy.copy_stage', action: 'update', what: 'IAM role policy' },
      { address: 'aws_sns_topic.alerts', action: 'update', what: 'topic policy' },
      { address: 'aws_sqs_queue.dlq', action: 'create', what: 'queue policy' },
      { address: 'aws_iam_role.export', action: 'replace', what: 'IAM role (trust policy)' },
      { address: 'aws_s3_bucket_policy.exports', action: 'delete', what: 'bucket policy' },
    ]);
  });

  it('renders a comment that starts with its marker, leads with the policy changes and folds the plan', () => {
    const body = renderPlanComment('production', { resource_changes: plan }, 'Terraform will perform...\n');
    expect(body.startsWith(`${commentMarker('production')}\n### Terraform plan: \`production\``)).toBe(true);
    expect(body).toContain('**Plan: 2 to add, 4 to change, 2 to destroy.**');
    expect(body).toContain('5 IAM, key policy and resource policy changes: review these first');
    expect(body).toContain('| update | `aws_iam_role_policy.copy_stage` | IAM role policy |');
    expect(body.indexOf('review these first')).toBeLessThan(body.indexOf('<details>'));
    expect(body).toContain('```text\nTerraform will perform...\n```');
  });

  it('says when nothing changes, and cuts a plan too long for a comment', () => {
    const body = renderPlanComment('development', { resource_changes: [] }, 'x'.repeat(70_000));
    expect(body).toContain('**No changes.**');
    expect(body).toContain('No IAM, key policy or resource policy changes.');
    expect(body.length).toBeLessThan(65_536);
    expect(body).toContain('the whole plan is in the job log');
  });
});
