import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ciScriptHarness } from './script-harness';

/** Runs scripts/ci/plan-comment.sh against a stand-in gh that records its calls. */
const { dir, stack, run } = ciScriptHarness('plan-comment.sh', {
  // Lists FAKE_EXISTING as the id of an earlier comment; records every call and the body it was given.
  gh: (dir) => `#!/usr/bin/env bash
echo "$*" >> "${dir}/calls.txt"
for a in "$@"; do case "$a" in body=@*) cp "\${a#body=@}" "${dir}/body.md" ;; esac; done
if [ "$3" = "--paginate" ] || [ "$2" = "--paginate" ]; then [ -n "$FAKE_EXISTING" ] && echo "$FAKE_EXISTING"; fi
exit 0
`,
});
writeFileSync(
  join(stack, 'plan.json'),
  JSON.stringify({
    format_version: '1.2',
    resource_changes: [
      {
        address: 'aws_iam_role_policy.copy_stage',
        type: 'aws_iam_role_policy',
        change: { actions: ['update'], before: { policy: 'a' }, after: { policy: 'b' }, after_unknown: {} },
      },
    ],
  }),
);
writeFileSync(join(stack, 'plan.txt'), 'Plan: 0 to add, 1 to change, 0 to destroy.\n');

function post(existing: string) {
  rmSync(join(dir, 'calls.txt'), { force: true });
  const result = run('production', {
    GITHUB_REPOSITORY: 'acme/aurora-datalake-export',
    PR_NUMBER: '42',
    FAKE_EXISTING: existing,
  });
  return { ...result, calls: readFileSync(join(dir, 'calls.txt'), 'utf8').trim().split('\n') };
}

describe('Script: plan-comment.sh', () => {
  it('posts a new comment with the rendered plan when the pull request has none for the environment', () => {
    const { status, calls, stderr } = post('');
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(calls[0]).toContain('api --paginate repos/acme/aurora-datalake-export/issues/42/comments');
    expect(calls[1]).toMatch(/^api --method POST repos\/acme\/aurora-datalake-export\/issues\/42\/comments -F body=@/);
    const body = readFileSync(join(dir, 'body.md'), 'utf8');
    expect(body).toMatch(/^<!-- terraform-plan:production -->\n/);
    expect(body).toContain('| update | `aws_iam_role_policy.copy_stage` | IAM role policy |');
  });

  it('updates the comment an earlier push posted', () => {
    const { status, calls } = post('987');
    expect(status).toBe(0);
    expect(calls[1]).toMatch(
      /^api --method PATCH repos\/acme\/aurora-datalake-export\/issues\/comments\/987 -F body=@/,
    );
  });
});
