#!/usr/bin/env bash
# Measures synthesis of the example configuration (every environment), each run into a fresh output folder:
# `npm run synth`, `npx cdktf synth`, and `npx cdktf synth` with HashiCorp's checkpoint (telemetry and version
# check) switched off. Prints each run's wall time, CPU time (user + sys, which load from other processes
# barely changes) and peak memory, then the median of each; the load average says how busy the machine was.
#
#   scripts/bench-synth.sh [runs] [--cold]
#
# --cold removes the bundle and zip memos (build/lambda/bundles, build/lambda/inputs) before every run, as on a fresh checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3
cold=false
for arg in "$@"; do
  case "$arg" in
    --cold) cold=true ;;
    *) runs="$arg" ;;
  esac
done

measure() { # label, command...
  local label="$1"
  shift
  local walls=() cpus=() rsss=()
  for i in $(seq "$runs"); do
    $cold && rm -rf build/lambda/bundles build/lambda/inputs
    local out report
    out=$(mktemp -d)
    report=$(mktemp)
    CDKTF_OUTDIR="$out" OUT="$out" /usr/bin/time -f '%e %U %S %M' "$@" >/dev/null 2>"$report" </dev/null
    read -r wall user sys rss < <(tail -n 1 "$report")
    local cpu
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
    echo "  ${label} run ${i}: wall ${wall} s, cpu ${cpu} s, max RSS $((rss / 1024)) MiB, load $(cut -d' ' -f1 /proc/loadavg)"
    walls+=("$wall")
    cpus+=("$cpu")
    rsss+=("$((rss / 1024))")
    rm -rf "$out" "$report"
  done
  median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
  echo "${label}: median wall $(median "${walls[@]}") s, cpu $(median "${cpus[@]}") s, max RSS $(median "${rsss[@]}") MiB"
}

echo "synth of config/example.json, ${runs} runs each$($cold && echo ', zip memo removed before each run'); $(nproc) cores, Node $(node --version)"
measure 'npm run synth' npm run --silent synth
measure 'npx cdktf synth' sh -c 'npx cdktf synth --output "$OUT"'
measure 'npx cdktf synth, CHECKPOINT_DISABLE=1' env CHECKPOINT_DISABLE=1 sh -c 'npx cdktf synth --output "$OUT"'
