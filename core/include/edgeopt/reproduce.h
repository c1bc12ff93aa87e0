#pragma once
// Reproducibility runs: `edgeopt-run --reproduce RUN_DIR` runs the recipe,
// seed and threads a run recorded into a new run directory (Runner with
// RunRequest::reproduce_dir), then compareRuns says whether it got the same:
//   environment  EdgeOpt version and git commit, LibTorch version, plugin API
//                version, each plugin's version and SHA-256, the data
//                fingerprint, world size (differences are named, as warnings)
//   metrics      every metrics row, key by key (timings left out)
//   exports      each file's SHA-256; for an .edgeopt export that differs, its tensors
//   checkpoints  the tensors of each checkpoint (after each stage; a training
//                stage's best/last)
// and gives a verdict: identical, same within tolerance (with the largest
// difference), or different (with where).
#include <string>
#include <vector>

namespace edgeopt {

struct Reproduction {
  enum class Verdict { Identical, WithinTolerance, Different };
  Verdict verdict = Verdict::Identical;
  std::vector<std::string> environment;  // what differs in versions, plugins, data (warnings)
  std::vector<std::string> differences;  // where results differ beyond the tolerance
  std::string largest;                   // the largest difference within tolerance ("" when none)
  int compared_rows = 0, compared_files = 0, compared_tensors = 0;
  // The lines edgeopt-run prints: environment, counts, verdict.
  std::string text() const;
};

// Values a, b are the same within `tolerance` when |a - b| <= tolerance *
// max(1, |a|, |b|) (tensors: the largest element difference against the
// largest magnitude). InputError when either directory is not a finished run.
Reproduction compareRuns(const std::string& original, const std::string& reproduced, double tolerance = 1e-5);

// UsageError unless `dir` is a finished run directory (its recipe's stages
// all done), naming the flag as `flag` ("--reproduce").
void checkFinishedRun(const std::string& dir, const std::string& flag);

// The `threads` the original run used, as a --set, where it recorded 0 (all
// cores) and this machine's "all cores" differs (empty otherwise).
std::vector<std::string> reproduceSets(const std::string& original);

}  // namespace edgeopt
