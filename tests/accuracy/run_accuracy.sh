#!/usr/bin/env bash
# The accuracy label's quantization table (issue 11, "Results a user can
# trust"): mobilenet_v2 w0.5 (small input) trained in float on Fashion-MNIST
# (mobilenetv2_float.yaml), then, from that same float checkpoint, one run per
# quantization (mobilenetv2_calibrate.yaml / mobilenetv2_qat.yaml: float
# evaluate -> calibrate or qat -> evaluate -> sensitivity -> QDQ export), each
# QDQ export scored in ONNX Runtime (edgeopt-run --onnxruntime); then
# accuracy_table.py prints the table and checks it.
#
# usage: run_accuracy.sh EDGEOPT_RUN SOURCE_DIR WORK_DIR short|full
#   full   15 float epochs (~75 min quiet on the 2-core dev machine), 1 QAT
#          epoch per preset; asserts the targets (float >= 93 %,
#          QAT WC8_AT8 drop <= 0.3 pt) and ONNX Runtime parity
#   short  the same pipeline on a 1-epoch, 60-batch float model, 20 QAT
#          batches, 5 calibration batches, 2 sensitivity batches (~10 min):
#          proves the driver, its numbers are not the converged results
# Environment:
#   ACC_FLOAT_RUN=DIR  a finished run of mobilenetv2_float.yaml to start from
#                      (otherwise WORK_DIR/float is made, or resumed when an
#                      earlier call was interrupted: every step is resumable)
#   ACC_JOBS="calibrate:WC8_AT8 qat:WC8_AT8 ..."  the quantizations (default below)
# Steps whose run directory already finished are not run again, so a second
# call after an interruption continues where the first stopped.
set -euo pipefail
run=$1 src=$2 work=$3 mode=$4
here="$src/tests/accuracy"
jobs=${ACC_JOBS:-"calibrate:WC8_AT8 qat:WC8_AT8 qat:WC8SYMP2_AT8SYMP2 qat:WC4_AT8"}
case "$mode" in
  short) float_sets=(--set vars.epochs=1 --set stages.0.max_batches=60 --set stages.0.warmup_epochs=0.1)
         qat_sets=(--set stages.1.max_batches=20) cal_sets=(--set stages.1.batches=5)
         sens_sets=(--set stages.3.batches=2) ;;
  full) float_sets=() qat_sets=() cal_sets=() sens_sets=() ;;
  *) echo "mode must be short or full" >&2; exit 2 ;;
esac
"$src/scripts/fetch-data.sh" >&2
unset EDGEOPT_PLUGIN_PATH EDGEOPT_NO_BUILTIN_PLUGINS
mkdir -p "$work"

. "$here/run_lib.sh"
float_checkpoint "$work/float" "$here/mobilenetv2_float.yaml" "${float_sets[@]}"

dirs=()
for job in $jobs; do
  kind=${job%%:*} preset=${job#*:}
  case "$kind" in
    calibrate) sets=("${cal_sets[@]}") ;;
    qat) sets=("${qat_sets[@]}") ;;
    *) echo "job $job: kind must be calibrate or qat" >&2; exit 2 ;;
  esac
  dir="$work/$kind-$preset"
  run_or_resume "$dir" "$here/mobilenetv2_$kind.yaml" --set "vars.float=$ckpt" --set "vars.preset=$preset" \
    "${sets[@]}" "${sens_sets[@]}"
  "$run" --onnxruntime "$dir" --log-level warn
  dirs+=("$dir")
done
/usr/bin/python3 "$here/accuracy_table.py" --mode "$mode" "$float_run" "${dirs[@]}"
