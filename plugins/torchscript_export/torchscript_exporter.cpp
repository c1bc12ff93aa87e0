// The `torchscript` exporter (plugin torchscript_export). Builds a
// torch::jit::Module whose submodule tree mirrors the state_dict names
// (features.0.0.weight is parameter `weight` of submodule features/0/0, so
// Python's m.state_dict() keys equal ours), defines `forward` from the source
// ir::emitTorchScript writes, and saves it with Module::save (to a temporary,
// then renamed). Parameters keep requires_grad; batch_norm and dropout follow
// self.training, so Python can fine-tune the result.
#include <edgeopt/error.h>
#include <edgeopt/exporter.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/export_lower.h>
#include <edgeopt/plugin.h>

#include <torch/csrc/jit/api/module.h>

#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>

namespace {

namespace jit = torch::jit;
using edgeopt::GraphModule;

std::string className(const std::string& type) {
  std::string out;
  for (char c : type) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return "__torch__.edgeopt." + (out.empty() ? std::string("Module") : out);
}

class ModuleTree {
 public:
  ModuleTree(const GraphModule& model, std::shared_ptr<jit::CompilationUnit> cu)
      : cu_(std::move(cu)), training_(model.isTraining()), root_(make("GraphModule")) {
    for (const edgeopt::ir::Node* n : model.graph().nodes())
      for (const auto& entry : n->scope()) types_.emplace(entry.path, entry.type);
  }

  jit::Module& root() { return root_; }

  // The module at `path` ("" = root), created (with its parents) on first use.
  jit::Module& at(const std::string& path) {
    if (path.empty()) return root_;
    auto it = modules_.find(path);
    if (it != modules_.end()) return it->second;
    auto dot = path.rfind('.');
    std::string parent = dot == std::string::npos ? "" : path.substr(0, dot);
    std::string name = dot == std::string::npos ? path : path.substr(dot + 1);
    jit::Module& p = at(parent);
    auto type = types_.find(path);
    jit::Module child = make(type == types_.end() ? "Module" : type->second);
    p.register_module(name, child);
    return modules_.emplace(path, child).first->second;
  }

 private:
  jit::Module make(const std::string& type) {
    jit::Module m(c10::QualifiedName(className(type)), cu_, /*shouldMangle=*/true);
    m.register_attribute("training", c10::BoolType::get(), training_);
    return m;
  }

  std::shared_ptr<jit::CompilationUnit> cu_;
  bool training_;
  jit::Module root_;
  std::map<std::string, std::string> types_;  // module path -> module type
  std::map<std::string, jit::Module> modules_;
};

class TorchScriptExporter : public edgeopt::Exporter {
 public:
  std::string extension() const override { return ".pt"; }

  void write(const GraphModule& model, const std::string& path) override {
    const std::string source = edgeopt::ir::emitTorchScript(model.graph());
    ModuleTree tree(model, std::make_shared<jit::CompilationUnit>());
    for (const auto& [name, tensor] : model.stateDict()) {
      auto dot = name.rfind('.');
      jit::Module& owner = tree.at(dot == std::string::npos ? "" : name.substr(0, dot));
      bool buffer = model.isBuffer(name);
      at::Tensor copy = tensor.detach().clone();
      if (!buffer) copy.set_requires_grad(tensor.requires_grad());
      owner.register_parameter(dot == std::string::npos ? name : name.substr(dot + 1), copy, buffer);
    }
    try {
      tree.root().define(source);
    } catch (const std::exception& e) {
      throw edgeopt::RuntimeFailure("TorchScript export: the emitted forward does not compile: " +
                                    std::string(e.what()) + "\n" + source);
    }
    const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
    try {
      // The example input shapes (one "1,3,224,224" line per input) for the
      // torchscript source to read back: edgeopt-inspect model.pt needs no --input-shape.
      std::string shapes;
      for (const auto& shape : model.exampleInputShapes()) {
        for (size_t i = 0; i < shape.size(); ++i) shapes += (i ? "," : "") + std::to_string(shape[i]);
        shapes += "\n";
      }
      jit::ExtraFilesMap extra;
      if (!shapes.empty()) extra["edgeopt_input_shapes"] = shapes;
      tree.root().save(tmp, extra);
      std::filesystem::rename(tmp, path);
    } catch (const std::exception& e) {
      std::remove(tmp.c_str());
      throw edgeopt::RuntimeFailure("TorchScript export: cannot write '" + path + "': " + e.what());
    }
  }
};

void registerTorchScriptExport(edgeopt::PluginRegistrar& r) {
  edgeopt::ExporterFactory f;
  f.summary = "TorchScript module (torch.jit.load): state_dict names kept, trainable, forward from the graph";
  f.create = [](const edgeopt::Options&) { return std::make_unique<TorchScriptExporter>(); };
  r.add<edgeopt::Exporter>("torchscript", std::move(f));
}

}  // namespace

EDGEOPT_PLUGIN("0.1.0", "TorchScript exporter", registerTorchScriptExport)
