#!/usr/bin/env bash
# The phase-1 step's cost as work grows: `deft bench detect-step` for every class count × batch size given, one
# process each (so each peak resident memory is its own), printed as a Markdown table for docs/results/speed.md.
#   scripts/bench-scaling.sh [--classes "10 100 1000"] [--batches "8 64"] [--steps N] [-- extra bench options]
# Example: scripts/bench-scaling.sh --classes "10 100" --batches 64 -- --peft none
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
classes="10 100 1000"; batches="8 64"; steps=2; extra=()
while (($#)); do
  case "$1" in
    --classes) classes="$2"; shift 2 ;;
    --batches) batches="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
echo "| classes | batch | peft | dtype | threads | s/step | images/s | peak RSS (GB) |"
echo "|---:|---:|---|---|---:|---:|---:|---:|"
for c in $classes; do
  for b in $batches; do
    json="$("$root/deft" bench detect-step --classes "$c" --batch "$b" --steps "$steps" "${extra[@]}" --json | tail -n 1)"
    python3 - "$json" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
peak = r.get("peak_resident_bytes")
print(f"| {r['classes']} | {r['batch']} | {r['peft']} | {r['precision']} | {r['threads']} | {r['seconds_per_step']:.2f} | "
      f"{r['images_per_second']:.2f} | {'' if peak is None else f'{peak / 1e9:.2f}'} |")
PY
  done
done
