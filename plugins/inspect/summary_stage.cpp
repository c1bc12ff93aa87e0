// The `summary` stage: a torchinfo-like table of the model as it stands at this
// point of the recipe (per layer: name, op, module type, output shape, params,
// MACs; totals), written to stages/<i>-summary/summary.txt and logged.
#include <edgeopt/distributed.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/summary.h>
#include <edgeopt/fileutil.h>
#include <edgeopt/plugin.h>
#include <edgeopt/stage.h>

#include <spdlog/spdlog.h>

#include <cstdio>

namespace {

using edgeopt::GraphModule;

// The shape to summarize at: the option, else the one the model source recorded.
edgeopt::ir::Shape inputShape(const GraphModule& model, const std::vector<int64_t>& option) {
  if (!option.empty()) return option;
  if (!model.exampleInputShapes().empty()) return model.exampleInputShapes()[0];
  throw edgeopt::RuntimeFailure("the model records no input shape; set input_shape: [N, C, H, W]");
}

std::string millions(int64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f M", static_cast<double>(n) / 1e6);
  return buf;
}

class SummaryStage : public edgeopt::Stage {
 public:
  explicit SummaryStage(const edgeopt::Options& o)
      : shape_(o.getOr<std::vector<int64_t>>("input_shape", {})), file_(o.get<std::string>("file")) {
    if (!edgeopt::staysInside(file_))
      o.fail("file", "must be a relative path inside the stage folder, without '..' above it (got \"" + file_ + "\")");
  }

  std::vector<std::string> plan(const GraphModule& model) const override {
    return {"input " + edgeopt::ir::formatShape(inputShape(model, shape_)) + ", writes " + file_};
  }

  void run(edgeopt::StageContext& ctx) override {
    if (!edgeopt::dist::isMainProcess()) return;  // rank 0 writes the files of a distributed run
    auto summary = edgeopt::ir::summarize(ctx.model(), inputShape(ctx.model(), shape_));
    const std::string path = ctx.stageDir() + "/" + file_;
    edgeopt::atomicWrite(path, edgeopt::ir::formatSummary(summary));
    spdlog::info("summary: {} layers, {} params, {} MACs at {} -> {}", summary.layers.size(),
                 millions(summary.totalParams), millions(summary.totalMacs),
                 edgeopt::ir::formatShape(summary.inputShape), path);
  }

 private:
  std::vector<int64_t> shape_;
  std::string file_;
};

void registerInspect(edgeopt::PluginRegistrar& r) {
  edgeopt::StageFactory f;
  f.summary = "per-layer table of output shapes, parameters and MACs (torchinfo-like)";
  f.options.add("input_shape", edgeopt::OptionType::IntList).atLeast(1).help("[N, C, H, W]; default: the model's own");
  f.options.add("file", edgeopt::OptionType::String).defaultValue(std::string("summary.txt"));
  f.create = [](const edgeopt::Options& o) { return std::make_unique<SummaryStage>(o); };
  r.add<edgeopt::Stage>("summary", std::move(f));
}

}  // namespace

EDGEOPT_PLUGIN("0.1.0", "model inspection stages", registerInspect)
