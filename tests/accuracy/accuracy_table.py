#!/usr/bin/env python3
"""Prints the accuracy label's table from finished runs and checks it.

usage: accuracy_table.py [--mode short|full] FLOAT_RUN QUANT_RUN...

FLOAT_RUN is a run of mobilenetv2_float.yaml (its evaluate row and, when
measured, ONNX Runtime on exports/float.onnx); each QUANT_RUN a run of
mobilenetv2_calibrate.yaml or mobilenetv2_qat.yaml: its first evaluate row is
the float checkpoint it loaded, the second the quantized model; the drop is
their difference (same checkpoint, same run). ONNX Runtime top-1 comes from
RUN/onnxruntime.json (model.qdq.onnx), the sensitivity columns from
stages/3-sensitivity/sensitivity.json.

Checks (exit 1 with the failures listed):
  every mode  each run loaded the float run's model (first evaluate == float
              run's evaluate, 1e-9); ONNX Runtime within PARITY_PT of EdgeOpt on
              each QDQ export and within 0.05 pt on float.onnx; a sensitivity
              table with one row per quantized layer; no quantized model more
              than GUARD_PT below float (a broken quantizer, not a target)
  full        the issue's targets: float >= 93.0 %, QAT WC8_AT8 drop <= 0.3 pt
"""
import argparse
import json
import os
import sys

PARITY_PT = 0.5
GUARD_PT = {"short": 10.0, "full": 5.0}


def rows(run):
    with open(os.path.join(run, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def recipe_value(run, key):
    """The first `key: value` of the run's recorded recipe (preset, name)."""
    with open(os.path.join(run, "recipe.yaml")) as f:
        for line in f:
            s = line.strip()
            if s.startswith(key + ":"):
                return s.split(":", 1)[1].strip().strip("'\"")
    return "?"


def ort_top1(run, export):
    path = os.path.join(run, "onnxruntime.json")
    if not os.path.exists(path):
        return None
    for r in json.load(open(path))["rows"]:
        if r.get("export") == export:
            return r["val_top1"]
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["short", "full"], default="full")
    ap.add_argument("float_run")
    ap.add_argument("quant_runs", nargs="*")
    a = ap.parse_args()
    fails = []

    frows = rows(a.float_run)
    epochs = [r for r in frows if r["kind"] == "train" and "val_top1" in r]
    fevals = [r for r in frows if r["kind"] == "evaluate"]
    if not fevals:
        sys.exit(f"{a.float_run}: no evaluate row (unfinished? edgeopt-run --resume {a.float_run})")
    ftop1 = fevals[-1]["val_top1"]
    fort = ort_top1(a.float_run, "float.onnx")
    label = "short form, NOT converged" if a.mode == "short" else "converged float"
    print(f"Fashion-MNIST val (10,000 images), mobilenet_v2 w0.5 small-input; {label}: "
          f"{len(epochs)} float epochs ({a.float_run})")
    if epochs:
        print("float top-1 per epoch (the train stage's validation; on max_batches batches when set): " +
              ", ".join(f"{r['val_top1']:.2f}" for r in epochs))
    print()
    print("| model | EdgeOpt top-1 | drop (pt, float − quantized) | ONNX Runtime top-1 (QDQ export) | "
          "sensitivity: agreement with float, SQNR; most sensitive layers (output SQNR dB with that layer alone quantized) |")
    print("|---|---|---|---|---|")
    print(f"| float | {ftop1:.2f} % | - | {'-' if fort is None else f'{fort:.2f} % (float.onnx)'} | - |")
    if fort is not None and abs(fort - ftop1) > 0.05:
        fails.append(f"float.onnx in ONNX Runtime {fort:.2f} vs EdgeOpt {ftop1:.2f}")

    for run in a.quant_runs:
        qrows = rows(run)
        evals = [r for r in qrows if r["kind"] == "evaluate"]
        kind = "QAT" if any(r["kind"] == "qat" for r in qrows) or "qat" in os.path.basename(run) else "calibration only"
        preset = recipe_value(run, "preset")
        if len(evals) < 2:
            fails.append(f"{run}: fewer than 2 evaluate rows (unfinished?)")
            continue
        base, quant = evals[0]["val_top1"], evals[1]["val_top1"]
        drop = base - quant
        if abs(base - ftop1) > 1e-9:
            fails.append(f"{run}: loaded model scores {base:.4f}, the float run {ftop1:.4f}: not the same checkpoint")
        ort = ort_top1(run, "model.qdq.onnx")
        if ort is None:
            fails.append(f"{run}: no ONNX Runtime row for model.qdq.onnx")
        elif abs(ort - quant) > PARITY_PT:
            fails.append(f"{run}: ONNX Runtime {ort:.2f} vs EdgeOpt {quant:.2f} (> {PARITY_PT} pt apart)")
        sens_path = os.path.join(run, "stages", "3-sensitivity", "sensitivity.json")
        sens = "-"
        if not os.path.exists(sens_path):
            fails.append(f"{run}: no {sens_path}")
        else:
            s = json.load(open(sens_path))
            layers = s.get("layers", [])
            if not layers:
                fails.append(f"{run}: sensitivity table without layers")
            top = ", ".join(f"{l['layer']} ({l['only_sqnr_db']:.1f})" for l in layers[:3])
            sens = f"{s.get('top1_agreement', float('nan')):.2f} %, {s['sqnr_db']:.1f} dB; {top}"
        if drop > GUARD_PT[a.mode]:
            fails.append(f"{run}: {kind} {preset} drops {drop:.2f} pt (guard {GUARD_PT[a.mode]})")
        if a.mode == "full" and kind == "QAT" and preset == "WC8_AT8" and drop > 0.3:
            fails.append(f"{run}: QAT WC8_AT8 drop {drop:.2f} pt > target 0.3 pt")
        print(f"| {kind} {preset} | {quant:.2f} % | {drop:+.2f} | "
              f"{'-' if ort is None else f'{ort:.2f} %'} | {sens} |")
    if a.mode == "full" and ftop1 < 93.0:
        fails.append(f"float top-1 {ftop1:.2f} % < target 93 %")
    print()
    if fails:
        print("FAILED:\n  " + "\n  ".join(fails))
        return 1
    print(f"accuracy table ({a.mode}): OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
