#!/usr/bin/env bash
# The drift check of one environment, run in its synthesized stack folder after `terraform init`:
#   scripts/ci/drift-check.sh <environment> <stack folder>
# Exit 0: the deployed resources match the code. Exit 2: drift, reported as an error annotation naming the
# environment, with the plan above it. Exit 1: the plan itself failed.
set -uo pipefail
environment="${1:?usage: drift-check.sh <environment> <stack folder>}"
dir="${2:?usage: drift-check.sh <environment> <stack folder>}"
cd "$dir" || exit 1
terraform plan -input=false -lock=false -no-color -detailed-exitcode
code=$?
case "$code" in
  0) echo "No drift in ${environment}." ;;
  2) echo "::error title=Drift in ${environment}::The resources of ${environment} differ from the code on the default branch. Read the plan above, then apply the branch or fold the change into the code."
     ;;
  *) echo "::error title=Drift check failed in ${environment}::terraform plan failed (exit ${code}); the drift of ${environment} is unknown."
     code=1 ;;
esac
exit "$code"
