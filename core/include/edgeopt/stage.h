#pragma once
// A stage is one step of a recipe's `stages:` list (surgery, train, prune, qat,
// calibrate, export, or any plugin's). The runner validates each stage's options
// against its factory's schema, builds all stages before running the first one,
// and calls run() in order with a StageContext.
#include <edgeopt/registry.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace edgeopt {

class GraphModule;

class StageContext {
 public:
  virtual ~StageContext() = default;

  // The model as the previous stages left it. A stage that rebuilds the model
  // (surgery, channel removal) hands the new one to setModel().
  virtual GraphModule& model() = 0;
  virtual std::shared_ptr<GraphModule> sharedModel() = 0;
  virtual void setModel(std::shared_ptr<GraphModule> model) = 0;

  virtual int index() const = 0;                  // position in `stages:` (0-based)
  // In a distributed run (distributed.h) every rank runs every stage, and
  // only rank 0 writes files: a stage writing into these folders checks
  // dist::isMainProcess() first.
  virtual const std::string& runDir() const = 0;  // the run directory
  // A folder for this stage's own files (created on first call).
  virtual std::string stageDir() = 0;
  // The recipe's `data:` section (validated: the dataset's options plus the
  // loader options of data_loader.h), or nullptr when the recipe has none.
  virtual const Options* dataOptions() const = 0;
  // The recipe's dataset, opened on first use (shared by all stages); throws
  // a RuntimeFailure when the recipe has no `data:` section.
  virtual std::shared_ptr<const Dataset> dataset() = 0;
  virtual uint64_t seed() const = 0;
  virtual bool deterministic() const = 0;
  virtual int threads() const = 0;

  // Resumable progress for long stages (one call per finished epoch, say).
  // Saves the current model and `state` (JSON text) atomically; after a crash,
  // `--resume` restores that model and returns `state` from resumedProgress().
  // `metrics` (a JSON object, optional) is recorded in the same step, so a
  // resumed run never repeats or loses a metrics row.
  virtual void saveProgress(const std::string& state, const std::string& metrics = "") = 0;
  virtual std::optional<std::string> resumedProgress() const = 0;
  // Appends a metrics row (a JSON object) to metrics.jsonl and metrics.csv of
  // the run; "stage" and "kind" are added.
  virtual void recordMetrics(const std::string& metrics) = 0;
};

class Stage {
 public:
  virtual ~Stage() = default;
  // Lines for `--dry-run` describing what this stage will do to `model`.
  // Every Selectors option is resolved by the runner already; add what only
  // the stage knows (output files, epochs, ...).
  virtual std::vector<std::string> plan(const GraphModule& model) const { (void)model; return {}; }
  virtual void run(StageContext& ctx) = 0;
};

}  // namespace edgeopt
