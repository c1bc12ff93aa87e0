#!/usr/bin/env bash
# The main job as the README runs it; checks the float and QAT top-1 on the
# 10,000 validation images (measured: 86.71 % and 87.13 % on 2026-12-06; 86.05 % and 86.53 % on 2026-11-27).
# usage: run_main_full.sh EDGEOPT_RUN SOURCE_DIR OUT_DIR
set -euo pipefail
run=$1 src=$2 out=$3
"$src/scripts/fetch-data.sh"
rm -rf "$out"
unset EDGEOPT_PLUGIN_PATH EDGEOPT_NO_BUILTIN_PLUGINS
"$run" "$src/recipes/mobilenetv2_qat.yaml" --output "$out" --log-level warn
grep '"kind":"evaluate"' "$out/metrics.jsonl" | sed 's/.*"val_top1":\([0-9.]*\).*/\1/' > "$out/top1.txt"
float=$(sed -n 1p "$out/top1.txt") qat=$(sed -n 2p "$out/top1.txt")
echo "float top-1 $float %, QAT (WC8_AT8) top-1 $qat %"
awk -v f="$float" -v q="$qat" 'BEGIN { exit !(f >= 84 && q >= 84 && q >= f - 0.3) }'
