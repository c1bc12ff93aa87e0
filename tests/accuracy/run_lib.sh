# Shared by run_accuracy.sh and run_accuracy_v3.sh (sourced; expects $run,
# the edgeopt-run binary): every step resumable, a finished one skipped.

finished() {  # finished RUN_DIR: every stage of the run's recipe done
  [ -f "$1/state.json" ] && /usr/bin/python3 - "$1" <<'PY'
import json, sys, re
d = sys.argv[1]
done = json.load(open(d + "/state.json")).get("completed_stages", 0)
stages = sum(1 for line in open(d + "/recipe.yaml") if re.match(r"^  - kind: ", line))
sys.exit(0 if stages and done >= stages else 1)
PY
}
# run_or_resume RUN_DIR RECIPE ARGS...: starts the run, resumes an unfinished one, skips a finished one.
run_or_resume() {
  local dir=$1; shift
  if finished "$dir"; then echo "== $dir: finished earlier, kept"
  elif [ -f "$dir/state.json" ]; then echo "== $dir: resuming"; "$run" --resume "$dir" --log-level warn
  else rm -rf "$dir"; echo "== $dir: running"; "$run" "$@" --output "$dir" --log-level warn; fi
}
# float_checkpoint FLOAT_RUN RECIPE ARGS...: the finished float run (ACC_FLOAT_RUN, or FLOAT_RUN made
# or resumed from RECIPE ARGS), its float.onnx scored in ONNX Runtime; sets float_run and ckpt.
float_checkpoint() {
  float_run=${ACC_FLOAT_RUN:-$1}; shift
  if [ -n "${ACC_FLOAT_RUN:-}" ]; then
    finished "$float_run" || { echo "ACC_FLOAT_RUN=$float_run is not a finished run (edgeopt-run --resume it first)" >&2; exit 1; }
  else
    run_or_resume "$float_run" "$@"
  fi
  ckpt="$(cd "$float_run" && pwd)/exports/float.edgeopt"
  test -s "$ckpt" || { echo "missing $ckpt" >&2; exit 1; }
  "$run" --onnxruntime "$float_run" --export float.onnx --log-level warn
}
