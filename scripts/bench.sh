#!/usr/bin/env bash
# bench.sh — runs every benchmark program (build/bin/bench_*) in turn; each prints
# its own figures and its ratio against the limit measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
benches=(build/bin/bench_*)
if ((${#benches[@]} == 0)); then
  echo "bench: no benchmark programs in build/bin (run 'make' first)" >&2
  exit 2
fi
status=0
for bench in "${benches[@]}"; do
  echo "== ${bench##*/}"
  "$bench" "$@" || status=1
done
exit $status
