// The `checkpoint` model source: starts a recipe from an EdgeOpt checkpoint
// (a file written by the `edgeopt` exporter or a run's checkpoints/).
#include "export_plugin.h"

#include <edgeopt/graph_module.h>
#include <edgeopt/model_source.h>

namespace edgeopt::plugins {
namespace {

class CheckpointSource : public ModelSource {
 public:
  explicit CheckpointSource(std::string path) : path_(std::move(path)) {}
  std::shared_ptr<GraphModule> load() override { return GraphModule::load(path_); }

 private:
  std::string path_;
};

}  // namespace

ModelSourceFactory checkpointSourceFactory() {
  ModelSourceFactory f;
  f.summary = "an EdgeOpt checkpoint (.edgeopt)";
  f.options.add("path", OptionType::Path).required().help("the .edgeopt file");
  f.create = [](const Options& o) { return std::make_unique<CheckpointSource>(o.get<std::string>("path")); };
  return f;
}

}  // namespace edgeopt::plugins
