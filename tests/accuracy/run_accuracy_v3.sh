#!/usr/bin/env bash
# The accuracy label's calibration-only check on MobileNetV3-Large (issue 11,
# "Results a user can trust"): mobilenet_v3_large as is (small input,
# Hardswish and squeeze-excitation blocks) trained in float on Fashion-MNIST
# (mobilenetv3_large_float.yaml), then calibrated from that same checkpoint
# (mobilenetv3_large_calibrate.yaml: float evaluate -> calibrate WC8_AT8 ->
# evaluate with top-1 agreement against the float model on the whole val
# split -> sensitivity -> QDQ export), the QDQ export scored in ONNX Runtime
# (edgeopt-run --onnxruntime); then accuracy_table.py --net mobilenet_v3_large
# prints the table and checks it. The sibling of run_accuracy.sh (mobilenet_v2).
#
# usage: run_accuracy_v3.sh EDGEOPT_RUN SOURCE_DIR WORK_DIR short|full
#   full   20 float epochs (~75 min on the 2-core dev machine beside another
#          run), calibration ~15 min; asserts the targets for
#          calibration only: drop <= 1 pt and >= 99 % top-1 agreement with
#          the float model (plain WC8_AT8, or with the overrides below)
#   short  the same pipeline on a 60-batch float model, 5 calibration
#          batches, 2 sensitivity batches (~10 min): proves the driver, its
#          numbers are not the converged results
# Environment:
#   ACC_FLOAT_RUN=DIR  a finished run of mobilenetv3_large_float.yaml to start
#                      from (otherwise WORK_DIR/float is made, or resumed)
#   ACC_V3_OVERRIDES='[{layers: [...], activation_bits: 16}]'  a second
#                      calibration with these per-layer overrides (the
#                      sensitivity table's answer), in WORK_DIR/calibrate-WC8_AT8-overrides
# Steps whose run directory already finished are not run again, so a second
# call after an interruption continues where the first stopped.
set -euo pipefail
run=$1 src=$2 work=$3 mode=$4
here="$src/tests/accuracy"
case "$mode" in
  short) float_sets=(--set vars.epochs=1 --set stages.0.max_batches=60 --set stages.0.warmup_epochs=0.1)
         cal_sets=(--set stages.1.batches=5 --set stages.3.batches=2) ;;
  full) float_sets=() cal_sets=() ;;
  *) echo "mode must be short or full" >&2; exit 2 ;;
esac
"$src/scripts/fetch-data.sh" >&2
unset EDGEOPT_PLUGIN_PATH EDGEOPT_NO_BUILTIN_PLUGINS
mkdir -p "$work"

. "$here/run_lib.sh"
float_checkpoint "$work/float" "$here/mobilenetv3_large_float.yaml" "${float_sets[@]}"

dirs=("$work/calibrate-WC8_AT8")
run_or_resume "${dirs[0]}" "$here/mobilenetv3_large_calibrate.yaml" --set "vars.float=$ckpt" "${cal_sets[@]}"
if [ -n "${ACC_V3_OVERRIDES:-}" ]; then
  dirs+=("$work/calibrate-WC8_AT8-overrides")
  run_or_resume "${dirs[1]}" "$here/mobilenetv3_large_calibrate.yaml" --set "vars.float=$ckpt" \
    --set "vars.overrides=$ACC_V3_OVERRIDES" "${cal_sets[@]}"
fi
for dir in "${dirs[@]}"; do "$run" --onnxruntime "$dir" --log-level warn; done
/usr/bin/python3 "$here/accuracy_table.py" --net mobilenet_v3_large --mode "$mode" "$float_run" "${dirs[@]}"
