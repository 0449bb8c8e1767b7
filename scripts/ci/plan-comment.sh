#!/usr/bin/env bash
# Posts an environment's plan on the pull request, or updates the comment an earlier push posted.
#   scripts/ci/plan-comment.sh <environment> <stack folder holding plan.json and plan.txt>
# Needs GH_TOKEN, GITHUB_REPOSITORY and PR_NUMBER (set by the pull-request workflow) and the gh CLI.
set -euo pipefail
cd "$(dirname "$0")/../.."
environment="${1:?usage: plan-comment.sh <environment> <stack folder>}"
dir="${2:?usage: plan-comment.sh <environment> <stack folder>}"
: "${GITHUB_REPOSITORY:?}" "${PR_NUMBER:?}"
body=$(mktemp)
trap 'rm -f "$body"' EXIT
node --import tsx scripts/ci/plan-summary.ts "$environment" "$dir/plan.json" "$dir/plan.txt" >"$body"
marker="<!-- terraform-plan:${environment} -->"
existing=$(gh api --paginate "repos/${GITHUB_REPOSITORY}/issues/${PR_NUMBER}/comments" \
  --jq ".[] | select(.body | startswith(\"${marker}\")) | .id" | head -n 1)
if [ -n "$existing" ]; then
  gh api --method PATCH "repos/${GITHUB_REPOSITORY}/issues/comments/${existing}" -F "body=@${body}" >/dev/null
else
  gh api --method POST "repos/${GITHUB_REPOSITORY}/issues/${PR_NUMBER}/comments" -F "body=@${body}" >/dev/null
fi
