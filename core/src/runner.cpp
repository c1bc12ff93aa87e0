#include <edgeopt/dataset.h>
#include <edgeopt/distributed.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/interrupt.h>
#include <edgeopt/model_loader.h>
#include <edgeopt/ir/summary.h>
#include <edgeopt/model_source.h>
#include <edgeopt/report.h>
#include <edgeopt/runner.h>
#include <edgeopt/runtime.h>
#include <edgeopt/selector.h>
#include <edgeopt/stage.h>

#include "run_directory.h"
#include "text_util.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <functional>

namespace fs = std::filesystem;

namespace edgeopt {
namespace {

// "2.237 M params, 87.976 M MACs at [1, 3, 32, 32]" (MACs when the input shape is known).
std::string describeModel(GraphModule& model) {
  int64_t params = 0;
  for (const auto& [name, t] : model.namedParameters()) params += t.numel();
  char buf[160];
  if (model.exampleInputShapes().empty()) {
    std::snprintf(buf, sizeof buf, "%.3f M params", params / 1e6);
  } else {
    const ir::Shape& shape = model.exampleInputShapes()[0];
    auto summary = ir::summarize(model, shape);
    std::snprintf(buf, sizeof buf, "%.3f M params, %.3f M MACs at %s", params / 1e6, summary.totalMacs / 1e6,
                  ir::formatShape(shape).c_str());
  }
  return buf;
}

Interrupted interruptedAt(const RunDirectory& dir) {
  return Interrupted("interrupted; continue with edgeopt-run --resume " + dir.path());
}

struct BuiltStage {
  const ComponentConfig* config;
  std::unique_ptr<Stage> stage;
};

// Runs `fn`; any failure becomes an error that names the recipe step it came
// from, keeping the failure's own exit code (MLIR-style note at the step).
template <class Fn>
void atStep(const ComponentConfig& c, const std::string& what, Fn&& fn) {
  const std::string where = c.location.str() + ": " + c.key + ": " + what + " '" + c.kind + "' (plugin " +
                            c.provider + ") failed: ";
  try {
    fn();
  } catch (const RecipeError&) {
    throw;  // already points at the recipe
  } catch (const Interrupted&) {
    throw;  // not a failure of the step
  } catch (const Error& e) {
    throw Error(e.code(), where + e.what());
  } catch (const std::exception& e) {
    throw RuntimeFailure(where + errorText(e));
  } catch (...) {
    throw RuntimeFailure(where + "unknown exception");
  }
}

class RunStageContext : public StageContext {
 public:
  RunStageContext(const Recipe& recipe, const RunDirectory& dir, std::shared_ptr<GraphModule>& model,
                  ResumeState& state, int index)
      : recipe_(recipe), dir_(dir), model_(model), state_(state), index_(index) {}

  GraphModule& model() override { return *model_; }
  std::shared_ptr<GraphModule> sharedModel() override { return model_; }
  void setModel(std::shared_ptr<GraphModule> m) override {
    if (!m) throw RuntimeFailure("setModel: the stage handed over no model");
    model_ = std::move(m);
  }
  int index() const override { return index_; }
  const std::string& runDir() const override { return dir_.path(); }
  std::string stageDir() override {
    const auto& c = recipe_.stages[static_cast<size_t>(index_)];
    std::string d = dir_.file("stages/" + std::to_string(index_) + "-" + c.kind);
    if (dist::isMainProcess()) fs::create_directories(d);  // only rank 0 writes (see distributed.h)
    return d;
  }
  const Options* dataOptions() const override { return recipe_.data ? &recipe_.data->options : nullptr; }
  std::shared_ptr<const Dataset> dataset() override { return dataset_(); }
  void setDatasetOpener(std::function<std::shared_ptr<const Dataset>()> f) { dataset_ = std::move(f); }
  uint64_t seed() const override { return recipe_.seed; }
  bool deterministic() const override { return recipe_.deterministic; }
  int threads() const override { return effectiveThreads(recipe_.threads); }

  // Other ranks keep the state in memory only: rank 0 writes the files.
  void saveProgress(const std::string& state, const std::string& metrics) override {
    const std::string name = dir_.progressCheckpointName(index_);
    if (dist::isMainProcess()) model_->save(dir_.file(name));
    state_.progress_state = state;
    state_.progress_checkpoint = name;
    if (!metrics.empty()) state_.metrics.push_back(metricsRow(metrics));
    if (dist::isMainProcess()) {
      dir_.writeState(state_);
      refreshRunReport(dir_.path());
    }
    // A safe point: everything up to here is on disk and resumable.
    if (interruptRequested()) throw interruptedAt(dir_);
  }
  void recordMetrics(const std::string& metrics) override {
    state_.metrics.push_back(metricsRow(metrics));
    if (dist::isMainProcess()) dir_.writeState(state_);
  }
  std::optional<std::string> resumedProgress() const override { return resumed_; }
  void setResumed(std::optional<std::string> s) { resumed_ = std::move(s); }

  nlohmann::ordered_json metricsRow(const std::string& text) const {
    nlohmann::ordered_json row = {{"stage", index_}, {"kind", recipe_.stages[static_cast<size_t>(index_)].kind}};
    nlohmann::ordered_json given;
    try {
      given = nlohmann::ordered_json::parse(text);
    } catch (const nlohmann::ordered_json::exception& e) {
      throw RuntimeFailure(std::string("metrics must be a JSON object: ") + e.what());
    }
    if (!given.is_object()) throw RuntimeFailure("metrics must be a JSON object, got: " + text);
    row.update(given);
    return row;
  }

 private:
  const Recipe& recipe_;
  const RunDirectory& dir_;
  std::shared_ptr<GraphModule>& model_;
  ResumeState& state_;
  int index_;
  std::optional<std::string> resumed_;
  std::function<std::shared_ptr<const Dataset>()> dataset_;
};

}  // namespace

struct Runner::Impl {
  PluginHost& host;
  RunRequest request;
  Recipe recipe;
  std::shared_ptr<GraphModule> model;
  std::vector<BuiltStage> stages;
  std::shared_ptr<const Dataset> dataset;

  // Opens the recipe's dataset once, when a stage first asks for it.
  std::shared_ptr<const Dataset> openDataset() {
    if (dataset) return dataset;
    if (!recipe.data) throw RuntimeFailure("this stage needs data: add a data: section to the recipe");
    const auto& c = *recipe.data;
    atStep(c, "dataset", [&] {
      auto d = host.registriesInUse().of<Dataset>().find(c.kind)->factory.create(c.options);
      if (!d) throw RuntimeFailure("returned no dataset");
      dataset = std::shared_ptr<const Dataset>(std::move(d));
    });
    return dataset;
  }

  // Opens the dataset and, the first time, records what identifies it in
  // manifest.json (rank 0). A resumed run keeps the record of the data it
  // started with and warns when the data changed since.
  std::shared_ptr<const Dataset> openRecordedDataset(const RunDirectory& dir) {
    const bool first = !dataset;
    auto d = openDataset();
    if (!first || !dist::isMainProcess()) return d;
    const auto started = std::chrono::steady_clock::now();
    const nlohmann::json record = dataRecord(*d);
    spdlog::debug("data fingerprint in {} ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                                    std::chrono::steady_clock::now() - started).count());
    const nlohmann::json recorded = dir.recordedData();
    if (recorded.is_null()) dir.recordData(record);
    else if (recorded.value("fingerprint", "") != record["fingerprint"])
      spdlog::warn("the data changed since this run started: manifest.json records fingerprint '{}', now '{}'",
                   recorded.value("fingerprint", ""), record["fingerprint"].get<std::string>());
    return d;
  }

  // The dataset, its path options (root, ...), split sizes and fingerprint.
  nlohmann::json dataRecord(const Dataset& d) const {
    const auto& c = *recipe.data;
    nlohmann::json paths = nlohmann::json::object();
    for (const auto& spec : host.registriesInUse().of<Dataset>().find(c.kind)->factory.options.specs())
      if (spec.type() == OptionType::Path && c.options.has(spec.name()))
        paths[spec.name()] = fs::absolute(c.options.get<std::string>(spec.name())).lexically_normal().string();
    return {{"dataset", c.kind},           {"plugin", c.provider},
            {"paths", paths},              {"train_size", d.size(Split::Train)},
            {"val_size", d.size(Split::Val)}, {"classes", d.classes().size()},
            {"fingerprint", d.fingerprint()}};
  }

  // Everything that can fail on bad input, before any file is written.
  void prepare(bool build_model) {
    if (!request.reproduce_dir.empty()) {
      const RunDirectory run = RunDirectory::open(request.reproduce_dir);
      recipe = loadRecipeDocument(run.recipeFile(), request.sets, run.recipeBaseDir());
    } else if (request.resume_dir.empty()) {
      recipe = loadRecipeDocument(request.recipe_path, request.sets);
    } else {
      const RunDirectory run = RunDirectory::open(request.resume_dir);
      recipe = loadRecipeDocument(run.recipeFile(), {}, run.recipeBaseDir());
    }
    for (const auto& [plugin, loc] : recipe.plugins) {
      try {
        host.load(plugin);
      } catch (const PluginError& e) {
        throw PluginError(loc.str() + ": plugins: " + e.what());
      }
    }
    applyInputShape();
    validateComponents(recipe, host.registriesInUse());
    configureRuntime(recipe.threads, recipe.seed, recipe.deterministic);
    for (const auto& c : recipe.stages) {
      const auto* entry = host.registriesInUse().of<Stage>().find(c.kind);
      BuiltStage built{&c, nullptr};
      atStep(c, "creating stage", [&] { built.stage = entry->factory.create(c.options); });
      if (!built.stage) throw PluginError(c.key + ": stage '" + c.kind + "' (plugin " + c.provider + ") created nothing");
      stages.push_back(std::move(built));
    }
    if (!build_model) return;
    model = loadModel();
    // Selectors are checked against the model as loaded, so that a typo stops
    // the run before anything is written; each stage resolves again against
    // the model it actually receives.
    for (const auto& built : stages) atStep(*built.config, "planning stage", [&] { resolveAll(*built.config, *model); });
  }

  // --input-shape becomes the recipe's model.input_shape, for a model source
  // that takes one (as edgeopt-inspect gives it to the source).
  void applyInputShape() {
    if (request.input_shape.empty()) return;
    ConfigNode* model_node = recipe.document.find("model");
    const ConfigNode* source = model_node && model_node->isMap() ? model_node->find("source") : nullptr;
    if (!source || !source->isScalar() || !host.registriesInUse().of<ModelSource>().find(source->value()))
      return;  // validation reports it
    if (!modelSourceTakesInputShape(source->value(), host.registriesInUse()))
      throw UsageError("--input-shape: the model source '" + source->value() +
                       "' takes no input_shape option");
    const SourceLocation flag{"--input-shape", 0, 0};
    ConfigNode dims = ConfigNode::sequence(flag);
    for (int64_t d : request.input_shape) dims.items().push_back(ConfigNode::scalar(std::to_string(d), flag));
    model_node->set("input_shape", std::move(dims), flag);
  }

  // The model's file for messages (its source's path options), else the recipe step.
  std::string modelOrigin() const {
    const auto& c = recipe.model;
    for (const auto& spec : host.registriesInUse().of<ModelSource>().find(c.kind)->factory.options.specs())
      if (spec.type() == OptionType::Path && c.options.has(spec.name())) return c.options.get<std::string>(spec.name());
    return c.location.str() + ": " + c.key;
  }

  std::shared_ptr<GraphModule> loadModel() {
    const auto& c = recipe.model;
    std::shared_ptr<GraphModule> m;
    atStep(c, "model source", [&] {
      auto source = host.registriesInUse().of<ModelSource>().find(c.kind)->factory.create(c.options);
      m = source ? source->load() : nullptr;
      if (!m) throw RuntimeFailure("returned no model");
    });
    return m;
  }

  // Resolves every Selectors option of every stage against `m`.
  std::vector<std::string> resolveAll(const ComponentConfig& c, const GraphModule& m) const {
    std::vector<std::string> lines;
    const auto& schema = host.registriesInUse().of<Stage>().find(c.kind)->factory.options;
    for (const auto& spec : schema.specs()) {
      if (spec.type() != OptionType::Selectors || !c.options.has(spec.name())) continue;
      auto nodes = resolveSelectors(m.graph(), c.options, spec.name());
      std::vector<std::string> names;
      for (size_t i = 0; i < nodes.size() && i < 3; ++i) names.push_back(nodes[i]->name());
      lines.push_back(spec.name() + ": " + std::to_string(nodes.size()) + " layers (" + join(names, ", ") +
                      (nodes.size() > 3 ? ", ..." : "") + ")");
    }
    return lines;
  }
};

Runner::Runner(PluginHost& host, RunRequest request) : impl_(new Impl{host, std::move(request), {}, {}, {}}) {}
Runner::~Runner() = default;

void Runner::dryRun(std::ostream& out) {
  Impl& I = *impl_;
  I.prepare(/*build_model=*/true);
  const Recipe& r = I.recipe;
  out << "recipe " << r.path << ": " << r.name << " (seed " << r.seed << ", threads "
      << effectiveThreads(r.threads) << ", deterministic " << (r.deterministic ? "yes" : "no") << ")\n";
  out << "plugins:";
  for (const auto& p : I.host.plugins()) out << " " << p.name << "-" << p.version;
  std::string model_text;
  try {
    model_text = describeModel(*I.model);
  } catch (const Error& e) {  // shape propagation: the model file is malformed (or the input shape wrong for it)
    throw InputError(I.modelOrigin() + ": " + e.what());
  }
  out << "\nmodel: " << r.model.kind << " (plugin " << r.model.provider << "): " << model_text << "\n";
  if (r.data) out << "data: " << r.data->kind << " (plugin " << r.data->provider << ")\n";
  out << "stages:\n";
  for (size_t i = 0; i < I.stages.size(); ++i) {
    const auto& c = *I.stages[i].config;
    out << "  " << i << ". " << c.kind << " (plugin " << c.provider << ", " << c.location.str() << ")\n";
    std::vector<std::string> lines;
    atStep(c, "planning stage", [&] {
      lines = I.resolveAll(c, *I.model);
      for (auto& l : I.stages[i].stage->plan(*I.model)) lines.push_back(l);
    });
    for (const auto& l : lines) out << "       " << l << "\n";
  }
  out << "dry run: recipe valid, nothing written\n";
}

std::string Runner::run() {
  Impl& I = *impl_;
  const bool resuming = !I.request.resume_dir.empty();
  I.prepare(/*build_model=*/!resuming);
  const Recipe& r = I.recipe;
  // In a distributed run rank 0 creates the run directory and names it to
  // the others; only rank 0 writes files.
  const bool main = dist::isMainProcess();
  RunDirectory dir = resuming ? RunDirectory::open(I.request.resume_dir)
                     : main   ? RunDirectory::create(r, I.request.output_dir)
                              : RunDirectory::existing(dist::world()->share("run_dir", ""));
  if (main && dist::world()) dist::world()->share("run_dir", fs::absolute(dir.path()).string());  // cwds may differ
  std::shared_ptr<spdlog::sinks::sink> file_sink;
  if (main) {
    file_sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(dir.file("log.txt"));
    spdlog::default_logger()->sinks().push_back(file_sink);
    // Every line reaches log.txt when it is logged, so a killed or
    // interrupted run keeps its log.
    spdlog::default_logger()->flush_on(spdlog::level::trace);
  }

  ResumeState state;
  if (resuming) {
    state = dir.readState(I.stages.size());
    std::string checkpoint;
    if (state.progress_state) checkpoint = dir.file(state.progress_checkpoint);
    else if (state.completed_stages > 0)
      checkpoint = dir.stageCheckpoint(state.completed_stages - 1, r.stages[state.completed_stages - 1].kind);
    I.model = checkpoint.empty() ? I.loadModel() : GraphModule::load(checkpoint);
    spdlog::info("resuming {} after stage {} of {}{}", dir.path(), state.completed_stages, I.stages.size(),
                 state.progress_state ? " (with in-stage progress)" : "");
    // Every rank reads state.json and the checkpoint before rank 0 may rewrite them.
    if (dist::world()) dist::world()->barrier();
  } else if (main) {
    dir.writeRecipe(r);
    dir.writeManifest(r, I.host, I.request.command_line);
    dir.writeState(state);
    refreshRunReport(dir.path());
    spdlog::info("run directory {}", dir.path());
  }
  for (size_t i = state.completed_stages; i < I.stages.size(); ++i) {
    if (interruptRequested()) throw interruptedAt(dir);  // a safe point: between stages
    const auto& c = *I.stages[i].config;
    atStep(c, "planning stage", [&] { I.resolveAll(c, *I.model); });
    spdlog::info("stage {}/{}: {} (plugin {})", i + 1, I.stages.size(), c.kind, c.provider);
    RunStageContext ctx(r, dir, I.model, state, static_cast<int>(i));
    ctx.setResumed(state.progress_state);
    ctx.setDatasetOpener([&I, &dir] { return I.openRecordedDataset(dir); });
    const auto stage_started = std::chrono::steady_clock::now();
    const double cpu_started = processCpuSeconds();
    try {
      atStep(c, "stage", [&] { I.stages[i].stage->run(ctx); });
    } catch (const Interrupted&) {  // a stage that stopped between its own steps
      throw interruptedAt(dir);
    }
    // The heap keeps its peak while a stage runs (tuneMalloc); between stages
    // the free part goes back to the OS.
    releaseFreeHeap();
    // CPU seconds (all threads) next to wall time: on a shared machine they
    // show what the stage costs whatever else runs.
    spdlog::info("stage {}/{}: {} done in {:.1f} s wall, {:.1f} s CPU (peak RSS so far {} MiB)", i + 1, I.stages.size(),
                 c.kind, std::chrono::duration<double>(std::chrono::steady_clock::now() - stage_started).count(),
                 processCpuSeconds() - cpu_started, peakRssMiB());
    state.completed_stages = static_cast<int>(i) + 1;
    state.progress_state.reset();
    state.progress_checkpoint.clear();
    if (!main) continue;
    I.model->save(dir.stageCheckpoint(static_cast<int>(i), c.kind));
    dir.writeState(state);
    refreshRunReport(dir.path());
  }
  if (main) {
    if (const size_t removed = dir.removeLeftoverTemporaries())
      spdlog::info("removed {} temporary file(s) an interrupted write had left", removed);
  }
  spdlog::info("finished: {}", dir.path());
  spdlog::default_logger()->flush();
  // The other ranks return once rank 0 has written everything, so a
  // launcher that sees every rank finish sees a finished run directory.
  if (dist::world()) dist::world()->barrier();
  auto& sinks = spdlog::default_logger()->sinks();
  sinks.erase(std::remove(sinks.begin(), sinks.end(), file_sink), sinks.end());
  return dir.path();
}

}  // namespace edgeopt
