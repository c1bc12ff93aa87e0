// The `export` stage: writes the current model with each exporter named in
// `formats` to <run dir>/exports/<name><extension>. Exporters come from any
// plugin (this one provides `edgeopt`); they are looked up when the stage is
// created, so a misspelt format fails before anything runs.
#include "export_plugin.h"

#include <edgeopt/distributed.h>
#include <edgeopt/exporter.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/plugin.h>
#include <edgeopt/stage.h>

#include <spdlog/spdlog.h>

#include <filesystem>

namespace edgeopt::plugins {
namespace {

std::string joinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

class ExportStage : public Stage {
 public:
  explicit ExportStage(const Options& o) : name_(o.get<std::string>("name")) {
    for (const auto& e : o.get<ConfigNode>("settings").entries())
      if (!registries().of<Exporter>().contains(e.key))
        throw RecipeError(e.key_location, joinKey(o.key("settings"), e.key),
                          "settings for an unknown export format (available: " +
                              joinNames(registries().of<Exporter>().names()) + ")");
    if (name_.empty() || name_.find('/') != std::string::npos) o.fail("name", "must be a file name without '/'");
    const auto& exporters = registries().of<Exporter>();
    for (const auto& format : o.get<std::vector<std::string>>("formats")) {
      const auto* entry = exporters.find(format);
      if (!entry)
        o.fail("formats", "unknown export format '" + format + "' (available: " + joinNames(exporters.names()) + ")");
      // Per-format settings: `settings: {onnx: {opset: 13}}`, validated against the exporter's schema.
      ConfigNode node;
      const std::string key = joinKey(o.key("settings"), format);
      if (const ConfigNode* given = o.get<ConfigNode>("settings").find(format)) node = *given;
      auto exporter = entry->factory.create(entry->factory.options.validate(node, key, {}, base_dir_));
      files_.push_back("exports/" + name_ + exporter->extension());
      exporters_.push_back(std::move(exporter));
    }
  }

  std::vector<std::string> plan(const GraphModule&) const override {
    return {"writes " + joinNames(files_)};
  }

  void run(StageContext& ctx) override {
    if (!dist::isMainProcess()) return;  // every rank holds the same model; rank 0 writes it
    for (size_t i = 0; i < exporters_.size(); ++i) {
      const std::string path = (std::filesystem::path(ctx.runDir()) / files_[i]).string();
      // Not every exporter makes its folder (TorchScript's Module::save does not).
      std::filesystem::create_directories(std::filesystem::path(path).parent_path());
      exporters_[i]->write(ctx.model(), path);
      spdlog::info("exported {}", path);
    }
  }

 private:
  std::string name_;
  std::string base_dir_ = ".";
  std::vector<std::string> files_;
  std::vector<std::unique_ptr<Exporter>> exporters_;
};

}  // namespace

StageFactory exportStageFactory() {
  StageFactory f;
  f.summary = "writes the model in each of `formats` to exports/<name>.<ext>";
  f.options.add("formats", OptionType::StringList)
      .defaultValue(std::vector<std::string>{"edgeopt"})
      .help("exporter names, e.g. [edgeopt, onnx]");
  f.options.add("name", OptionType::String).defaultValue(std::string("model")).help("file name stem");
  f.options.add("settings", OptionType::Map).defaultValue(ConfigNode::map({}))
      .help("per-format exporter options, e.g. {onnx: {opset: 13}}");
  f.create = [](const Options& o) { return std::make_unique<ExportStage>(o); };
  return f;
}

}  // namespace edgeopt::plugins

static void registerExport(edgeopt::PluginRegistrar& r) {
  r.add<edgeopt::Exporter>("edgeopt", edgeopt::plugins::checkpointExporterFactory());
  r.add<edgeopt::Stage>("export", edgeopt::plugins::exportStageFactory());
  r.add<edgeopt::ModelSource>("checkpoint", edgeopt::plugins::checkpointSourceFactory());
}

EDGEOPT_PLUGIN("0.1.0", "export stage; EdgeOpt checkpoint exporter and model source", registerExport)
