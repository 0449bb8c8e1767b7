#!/usr/bin/env bash
# Measures `npm run synth` of the example configuration from a clean output folder: wall time and peak memory.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
for i in $(seq "$runs"); do
  out=$(mktemp -d)
  report=$(mktemp)
  CDKTF_OUTDIR="$out" /usr/bin/time -v npm run --silent synth >/dev/null 2>"$report"
  wall=$(grep 'Elapsed (wall clock)' "$report" | awk '{print $NF}')
  rss=$(grep 'Maximum resident set size' "$report" | awk '{print $NF}')
  echo "run $i: wall ${wall}, max RSS $((rss / 1024)) MiB, load $(cut -d' ' -f1 /proc/loadavg)"
  rm -rf "$out" "$report"
done
