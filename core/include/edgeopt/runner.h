#pragma once
// Runs a recipe: validate everything, build the model and every stage, then
// run the stages in order, writing the run directory as it goes:
//   recipe.yaml      the recipe after --set and ${vars} (what actually ran)
//   manifest.json    versions, plugins and their hashes, seed, threads, host
//   log.txt          the log
//   state.json       stages finished so far and in-stage progress (for --resume)
//   checkpoints/     the model after each stage (atomic writes)
//   stages/<i>-<kind>/  files a stage writes
#include <edgeopt/plugin_host.h>
#include <edgeopt/recipe.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace edgeopt {

struct RunRequest {
  std::string recipe_path;        // empty with resume_dir
  std::vector<std::string> sets;  // --set PATH=VALUE (and --seed/--threads as sets)
  std::string output_dir;         // --output: the run directory itself
  std::string resume_dir;         // --resume RUN_DIR
  // --reproduce RUN_DIR: run that run's recorded recipe (with `sets` on top)
  // into a new run directory; see reproduce.h for the comparison.
  std::string reproduce_dir;
  std::string command_line;       // for the manifest
  // --input-shape N,C,H,W: the model source's input_shape (over the
  // recipe's), recorded in the run's recipe.yaml; empty: none given.
  std::vector<int64_t> input_shape;
};

class Runner {
 public:
  Runner(PluginHost& host, RunRequest request);
  ~Runner();

  // Validates, builds the model and the stages, resolves every layer selector
  // and prints the plan. Writes nothing.
  void dryRun(std::ostream& out);
  // Runs (or resumes) the recipe; returns the run directory.
  std::string run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgeopt
