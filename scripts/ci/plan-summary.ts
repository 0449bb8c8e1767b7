/**
 * Renders an environment's Terraform plan as a pull-request comment: the counts, then every IAM, key policy and
 * resource policy change at the top (what reviewers must read first), then the whole plan folded away.
 *
 *   node --import tsx scripts/ci/plan-summary.ts <environment> <plan.json> <plan.txt>
 *
 * plan.json is `terraform show -json plan.tfplan`, plan.txt is `terraform show -no-color plan.tfplan`.
 */
import { readFileSync } from 'node:fs';

/** One entry of `resource_changes` in Terraform's JSON plan format. */
export interface ResourceChange {
  readonly address: string;
  readonly type: string;
  readonly change: {
    readonly actions: readonly string[];
    readonly before?: Record<string, unknown> | null;
    readonly after?: Record<string, unknown> | null;
    readonly after_unknown?: Record<string, unknown> | null;
  };
}

/** A change reviewers must look at first, and why. */
export interface PolicyChange {
  readonly address: string;
  readonly action: string;
  readonly what: string;
}

/** Resources that are access control in their entirety: any change to them is a permission change. */
const ACCESS_TYPES: Readonly<Record<string, string>> = {
  aws_iam_role: 'IAM role (trust policy)',
  aws_iam_role_policy: 'IAM role policy',
  aws_iam_policy: 'IAM policy',
  aws_iam_role_policy_attachment: 'IAM policy attachment',
  aws_kms_key_policy: 'key policy',
  aws_kms_grant: 'KMS grant',
  aws_s3_bucket_policy: 'bucket policy',
  aws_s3_access_point_policy: 'access point policy',
  aws_sns_topic_policy: 'topic policy',
  aws_sqs_queue_policy: 'queue policy',
  aws_lambda_permission: 'Lambda permission',
};

/** Resources with an inline `policy` attribute: a permission change when that attribute changes. */
const INLINE_POLICY_TYPES: Readonly<Record<string, string>> = {
  aws_kms_key: 'key policy',
  aws_sns_topic: 'topic policy',
  aws_sqs_queue: 'queue policy',
};

/** The action of a change as one word: create, update, delete, replace, read or no-op. */
export function actionOf(actions: readonly string[]): string {
  if (actions.includes('create') && actions.includes('delete')) return 'replace';
  return actions[0] ?? 'no-op';
}

/** The changes that alter who may do what: IAM, keys, resource policies. */
export function policyChanges(changes: readonly ResourceChange[]): PolicyChange[] {
  const found: PolicyChange[] = [];
  for (const c of changes) {
    const action = actionOf(c.change.actions);
    if (action === 'no-op' || action === 'read') continue;
    const access = ACCESS_TYPES[c.type];
    if (access) {
      found.push({ address: c.address, action, what: access });
      continue;
    }
    const inline = INLINE_POLICY_TYPES[c.type];
    if (!inline) continue;
    const before = c.change.before?.policy;
    const after = c.change.after?.policy;
    const unknown = c.change.after_unknown?.policy === true;
    if (action !== 'update' || unknown || JSON.stringify(before) !== JSON.stringify(after))
      found.push({ address: c.address, action, what: inline });
  }
  return found;
}

/** Counts of resources to add, change and destroy (a replacement counts as one add and one destroy). */
export function counts(changes: readonly ResourceChange[]): { add: number; change: number; destroy: number } {
  let add = 0;
  let change = 0;
  let destroy = 0;
  for (const c of changes) {
    const action = actionOf(c.change.actions);
    if (action === 'create') add++;
    else if (action === 'update') change++;
    else if (action === 'delete') destroy++;
    else if (action === 'replace') {
      add++;
      destroy++;
    }
  }
  return { add, change, destroy };
}

/** GitHub refuses comments above 65,536 characters; the full plan is cut to fit and says so. */
const MAX_PLAN_CHARS = 55_000;

/** Marker that finds an environment's earlier plan comment, so each push updates it instead of adding one. */
export function commentMarker(environment: string): string {
  return `<!-- terraform-plan:${environment} -->`;
}

/** The comment body. */
export function renderPlanComment(environment: string, plan: { resource_changes?: ResourceChange[] }, text: string) {
  const changes = plan.resource_changes ?? [];
  const { add, change, destroy } = counts(changes);
  const policies = policyChanges(changes);
  const lines = [
    commentMarker(environment),
    `### Terraform plan: \`${environment}\``,
    '',
    add + change + destroy === 0
      ? '**No changes.**'
      : `**Plan: ${add} to add, ${change} to change, ${destroy} to destroy.**`,
    '',
  ];
  if (policies.length > 0) {
    lines.push(
      `#### ⚠️ ${policies.length} IAM, key policy and resource policy change${policies.length === 1 ? '' : 's'}: review these first`,
      '',
      '| action | resource | what |',
      '|---|---|---|',
      ...policies.map((p) => `| ${p.action} | \`${p.address}\` | ${p.what} |`),
      '',
    );
  } else {
    lines.push('No IAM, key policy or resource policy changes.', '');
  }
  const cut = text.length > MAX_PLAN_CHARS;
  lines.push(
    '<details><summary>Full plan</summary>',
    '',
    '```text',
    cut ? text.slice(0, MAX_PLAN_CHARS) : text.trimEnd(),
    '```',
    cut ? `\nCut at ${MAX_PLAN_CHARS} characters; the whole plan is in the job log.` : '',
    '</details>',
  );
  return `${lines.join('\n')}\n`;
}

if (require.main === module) {
  const [environment, planJson, planText] = process.argv.slice(2);
  if (!environment || !planJson || !planText) {
    process.stderr.write('usage: plan-summary.ts <environment> <plan.json> <plan.txt>\n');
    process.exit(2);
  }
  const plan = JSON.parse(readFileSync(planJson, 'utf8'));
  process.stdout.write(renderPlanComment(environment, plan, readFileSync(planText, 'utf8')));
}
