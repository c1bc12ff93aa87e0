// The `transform` stage: runs named graph passes from the pass table on the
// model, e.g. before an export for inference:
//   - kind: transform
//     passes: [fold-conv-bn, dce]
#include <edgeopt/graph_module.h>
#include <edgeopt/passes/pass.h>
#include <edgeopt/plugin.h>
#include <edgeopt/stage.h>

#include <spdlog/spdlog.h>

namespace {

class TransformStage : public edgeopt::Stage {
 public:
  explicit TransformStage(const edgeopt::Options& o) : names_(o.get<std::vector<std::string>>("passes")) {
    std::string known;
    for (const auto& p : edgeopt::passTable()) known += (known.empty() ? "" : ", ") + p.name;
    for (const auto& name : names_) {
      const edgeopt::PassInfo* info = nullptr;
      for (const auto& p : edgeopt::passTable())
        if (p.name == name) info = &p;
      if (!info) o.fail("passes", "unknown pass '" + name + "' (known: " + known + ")");
      // Passes that need options (propagate-shapes) aren't runnable from here
      // without them: say so now, not mid-run.
      auto pass = info->create(info->options.validate(edgeopt::ConfigNode(), o.key("passes")));
      manager_.add(name, std::move(pass));
    }
  }

  std::vector<std::string> plan(const edgeopt::GraphModule&) const override {
    std::string list;
    for (const auto& n : names_) list += (list.empty() ? "" : ", ") + n;
    return {"passes: " + list};
  }

  void run(edgeopt::StageContext& ctx) override {
    const size_t before = ctx.model().graph().numNodes();
    const bool modified = manager_.run(ctx.model()).modified;
    spdlog::info("transform: {} nodes -> {}{}", before, ctx.model().graph().numNodes(), modified ? "" : " (unchanged)");
  }

 private:
  std::vector<std::string> names_;
  edgeopt::PassManager manager_;
};

void registerTransform(edgeopt::PluginRegistrar& r) {
  edgeopt::StageFactory f;
  f.summary = "runs graph passes by name (dce, fold-constants, fold-conv-bn, ...)";
  f.options.add("passes", edgeopt::OptionType::StringList).required().help("pass names, in order");
  f.create = [](const edgeopt::Options& o) { return std::make_unique<TransformStage>(o); };
  r.add<edgeopt::Stage>("transform", std::move(f));
}

}  // namespace

EDGEOPT_PLUGIN("0.1.0", "graph transformation stage", registerTransform)
