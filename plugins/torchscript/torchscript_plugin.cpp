// The "torchscript" model source: a file saved by torch.jit.script(model).save()
// or torch.jit.trace(...).save() in Python.
//   model:
//     source: torchscript
//     path: mobilenet_v2.pt      # relative to the recipe
//     input_shape: [1, 3, 224, 224]   # optional, recorded on the graph input
//     mode: train                # train | eval (traced files: eval only)
#include <edgeopt/model_source.h>
#include <edgeopt/options.h>
#include <edgeopt/plugin.h>

#include "torchscript_import.h"

namespace {

class TorchScriptSource : public edgeopt::ModelSource {
 public:
  explicit TorchScriptSource(edgeopt::torchscript::ImportOptions o) : options_(std::move(o)) {}
  std::shared_ptr<edgeopt::GraphModule> load() override { return edgeopt::torchscript::importTorchScript(options_); }

 private:
  edgeopt::torchscript::ImportOptions options_;
};

edgeopt::OptionSchema schema() {
  using edgeopt::OptionType;
  edgeopt::OptionSchema s;
  s.add("path", OptionType::Path).required().help("TorchScript file saved by torch.jit.script or torch.jit.trace");
  s.add("input_shape", OptionType::IntList).atLeast(1).help("shape of the model input, recorded on the graph input");
  s.add("mode", OptionType::String)
      .defaultValue(std::string("train"))
      .choices({"train", "eval"})
      .help("train: specialise `self.training` branches for training (scripted files only); eval: for inference");
  return s;
}

void registerTorchScript(edgeopt::PluginRegistrar& r) {
  r.add<edgeopt::ModelSource>(
      "torchscript", {"TorchScript files from torch.jit.script/trace", schema(),
                      [](const edgeopt::Options& o) -> std::unique_ptr<edgeopt::ModelSource> {
                        edgeopt::torchscript::ImportOptions io;
                        io.path = o.get<std::string>("path");
                        if (o.has("input_shape")) io.input_shape = o.get<std::vector<int64_t>>("input_shape");
                        io.train = o.get<std::string>("mode") == "train";
                        return std::make_unique<TorchScriptSource>(std::move(io));
                      }});
}

}  // namespace

EDGEOPT_PLUGIN("0.1.0", "TorchScript model source (torch.jit.script/trace files)", registerTorchScript)
