#pragma once
// A small API for writing models as graphs with torchvision's names:
//
//   ir::ModelBuilder b;
//   ir::Value* x = b.input("x");
//   {
//     auto s = b.module("features.0", "Conv2dNormActivation");
//     x = b.conv2d("0", x, ir::Conv2dOptions(3, 32, 3).stride(2).padding(1));
//     x = b.batchNorm2d("1", x, 32);
//     x = b.relu6("2", x);
//   }
//   b.output({x});
//   std::shared_ptr<GraphModule> m = b.finish();
//
// module() and the leaf helpers take names relative to the enclosing module,
// so the conv above is node "features.0.0" with parameter
// "features.0.0.weight", exactly the torchvision state_dict key. Parameters
// are initialised like torchvision (conv: kaiming_normal_ fan_out; BN: 1/0;
// Linear: per LinearInit) from ATen's default generator, so at::manual_seed
// makes a model reproducible.
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/graph.h>

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

namespace edgeopt::ir {

// nn.Conv2d's arguments; required ones in the constructor, the rest chainable.
struct Conv2dOptions {
  Conv2dOptions(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : in(in_channels), out(out_channels), kernel(kernel_size) {}
  Conv2dOptions& stride(int64_t v) { stride_ = v; return *this; }
  Conv2dOptions& padding(int64_t v) { padding_ = v; return *this; }
  Conv2dOptions& dilation(int64_t v) { dilation_ = v; return *this; }
  Conv2dOptions& groups(int64_t v) { groups_ = v; return *this; }
  Conv2dOptions& bias(bool v) { bias_ = v; return *this; }

  int64_t in, out, kernel;
  int64_t stride_ = 1, padding_ = 0, dilation_ = 1, groups_ = 1;
  bool bias_ = true;  // nn.Conv2d's default
};

enum class LinearInit {
  TorchDefault,  // nn.Linear.reset_parameters: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias (ResNet)
  Normal001,     // normal(0, 0.01) weight, zero bias (MobileNetV2, MobileNetV3, RegNet)
};

// torchvision's conv weight init: kaiming_normal_(mode="fan_out",
// nonlinearity="relu") for a [out, in / groups, kh, kw] weight.
at::Tensor convWeightInit(int64_t out, int64_t in_per_group, int64_t kh, int64_t kw);

class ModelBuilder {
 public:
  // Builds a new GraphModule (finish() hands it over).
  ModelBuilder();
  // Adds nodes to `target` at its graph's insertion point, inside `scope`
  // (Rewriter::replaceWithBlock): parameter names are made unique in
  // `target`, and finish() is not available.
  ModelBuilder(GraphModule& target, Scope scope);

  // Enters a (non-leaf) module until the returned guard is destroyed.
  class ModuleScope {
   public:
    ModuleScope(ModuleScope&& o) noexcept : builder_(o.builder_) { o.builder_ = nullptr; }
    ModuleScope(const ModuleScope&) = delete;
    ~ModuleScope();

   private:
    friend class ModelBuilder;
    explicit ModuleScope(ModelBuilder* b) : builder_(b) {}
    ModelBuilder* builder_;
  };
  [[nodiscard]] ModuleScope module(const std::string& name, const std::string& type);
  std::string path(const std::string& name) const;  // "features.3" + "conv" -> "features.3.conv"

  Value* input(const std::string& name = "x");
  void output(std::vector<Value*> values);
  // Lints and hands over the module; the builder is empty afterwards.
  std::shared_ptr<GraphModule> finish();
  GraphModule& graphModule() { return *module_; }
  const Scope& currentScope() const { return scope_; }

  // Leaf modules: `name` is relative to the current module.
  Value* conv2d(const std::string& name, Value* x, const Conv2dOptions& o);
  Value* batchNorm2d(const std::string& name, Value* x, int64_t channels, double eps = 1e-5,
                     double momentum = 0.1);
  Value* linear(const std::string& name, Value* x, int64_t in, int64_t out, bool bias = true,
                LinearInit init = LinearInit::TorchDefault);
  Value* relu(const std::string& name, Value* x) { return leaf(name, "ReLU", "relu", {x}); }
  Value* relu6(const std::string& name, Value* x) { return leaf(name, "ReLU6", "relu6", {x}); }
  Value* hardswish(const std::string& name, Value* x) { return leaf(name, "Hardswish", "hardswish", {x}); }
  Value* hardsigmoid(const std::string& name, Value* x) { return leaf(name, "Hardsigmoid", "hardsigmoid", {x}); }
  Value* sigmoid(const std::string& name, Value* x) { return leaf(name, "Sigmoid", "sigmoid", {x}); }
  Value* silu(const std::string& name, Value* x) { return leaf(name, "SiLU", "silu", {x}); }
  Value* dropout(const std::string& name, Value* x, double p) { return leaf(name, "Dropout", "dropout", {x}, {{"p", p}}); }
  Value* maxPool2d(const std::string& name, Value* x, int64_t kernel, int64_t stride, int64_t padding = 0);
  Value* adaptiveAvgPool2d(const std::string& name, Value* x, Ints output_size);
  Value* flatten(const std::string& name, Value* x, int64_t start_dim = 1);  // nn.Flatten

  // Any registered op as a leaf module call, or as a functional call inside
  // the current module (the node is named "<module>.<op>", made unique).
  Value* leaf(const std::string& name, const std::string& module_type, const std::string& op,
              std::vector<Value*> inputs, Attrs attrs = {});
  Value* functional(const std::string& op, std::vector<Value*> inputs, Attrs attrs = {});
  Value* add(Value* a, Value* b) { return functional("add", {a, b}); }

  // Registers a tensor under path(name) and returns its Param node's value.
  Value* parameter(const std::string& name, at::Tensor t);
  Value* buffer(const std::string& name, at::Tensor t);

 private:
  Node* stamp(Node* n, const Scope& scope, const std::string& module_type);
  std::string tensorName(const std::string& name) const;
  std::shared_ptr<GraphModule> owned_;  // empty when adding to another module
  GraphModule* module_;
  Scope scope_;
};

}  // namespace edgeopt::ir
