#pragma once
// The run report: <run_dir>/report.html, one self-contained page (inline SVG
// and CSS, no script, no network) built from what the run directory holds:
//   state.json / metrics   loss, accuracy or mAP and learning rate per epoch per stage
//   checkpoints/           params and MACs after each stage; per-layer tables
//                          (params, MACs, sparsity, quantizer scale/zero point/range)
//   stages/*/surgery.json  the layers surgery replaced
//   manifest.json, recipe.yaml, exports/
// The runner rewrites it after each stage (and each saved epoch), so a
// running job has one; `edgeopt-run --report RUN_DIR` rebuilds it.
#include <string>

namespace edgeopt {

// The report's HTML for the run directory `run_dir`. Unreadable parts (a
// malformed checkpoint, ...) are reported inside the page, not thrown.
// InputError when `run_dir` has no state.json.
std::string renderRunReport(const std::string& run_dir);
// Writes <run_dir>/report.html atomically; returns its path.
std::string writeRunReport(const std::string& run_dir);
// writeRunReport for the runner: a failure is logged as a warning (the report
// can be rebuilt with --report) and never stops the run.
void refreshRunReport(const std::string& run_dir) noexcept;

}  // namespace edgeopt
