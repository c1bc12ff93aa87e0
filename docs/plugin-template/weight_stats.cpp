// A template EdgeOpt plugin: the `weight_stats` stage writes, for the layers
// its selector picks, statistics of their weights (shape, mean, std, max |w|,
// fraction of exact zeros) to a CSV file in the stage's folder. Copy this
// folder, rename the plugin in CMakeLists.txt, and change the stage.
#include <edgeopt/fileutil.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/plugin.h>
#include <edgeopt/selector.h>
#include <edgeopt/stage.h>

#include <ATen/ATen.h>

#include <sstream>

namespace {

class WeightStats : public edgeopt::Stage {
 public:
  explicit WeightStats(const edgeopt::Options& options) : options_(options) {}

  std::vector<std::string> plan(const edgeopt::GraphModule&) const override {
    return {"writes " + options_.get<std::string>("file")};
  }

  void run(edgeopt::StageContext& ctx) override {
    edgeopt::GraphModule& model = ctx.model();
    std::ostringstream csv;
    csv << "layer,tensor,shape,mean,std,max_abs,zero_fraction\n";
    // The runner already checked that every selector matches something.
    for (edgeopt::ir::Node* node : edgeopt::resolveSelectors(model.graph(), options_, "layers")) {
      for (edgeopt::ir::Value* input : node->inputs()) {
        edgeopt::ir::Node* producer = input->producer();
        if (producer->opcode() != edgeopt::ir::Opcode::Param || model.isBuffer(producer->target())) continue;
        const at::Tensor w = model.tensor(producer->target()).detach();
        // The shape "[16, 3, 3, 3]" holds commas: quoted, as CSV readers expect.
        csv << node->name() << "," << producer->target() << ",\"" << edgeopt::ir::formatShape(w.sizes().vec()) << "\","
            << w.mean().item<double>() << "," << w.std().item<double>() << "," << w.abs().max().item<double>() << ","
            << (w == 0).to(at::kDouble).mean().item<double>() << "\n";
      }
    }
    edgeopt::atomicWrite(ctx.stageDir() + "/" + options_.get<std::string>("file"), csv.str());
  }

 private:
  edgeopt::Options options_;
};

void registerWeightStats(edgeopt::PluginRegistrar& registrar) {
  edgeopt::StageFactory stage;
  stage.summary = "per-layer weight statistics as CSV";
  stage.options.add("layers", edgeopt::OptionType::Selectors)
      .defaultValue(std::vector<std::string>{"type:conv2d", "type:linear"})
      .help("layers to report (selector grammar: name, re:REGEX, type:TYPE, !exclude)");
  stage.options.add("file", edgeopt::OptionType::String).defaultValue(std::string("weight_stats.csv"));
  stage.create = [](const edgeopt::Options& o) { return std::make_unique<WeightStats>(o); };
  registrar.add<edgeopt::Stage>("weight_stats", std::move(stage));
}

}  // namespace

EDGEOPT_PLUGIN("1.0.0", "weight statistics stage (template plugin)", registerWeightStats)
