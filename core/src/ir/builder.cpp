#include <edgeopt/error.h>
#include <edgeopt/ir/builder.h>

#include <ATen/ATen.h>

#include <cmath>

namespace edgeopt::ir {

at::Tensor convWeightInit(int64_t out, int64_t in_per_group, int64_t kh, int64_t kw) {
  at::Tensor w = at::empty({out, in_per_group, kh, kw});
  const double fan_out = static_cast<double>(out * kh * kw);
  return w.normal_(0.0, std::sqrt(2.0) / std::sqrt(fan_out));  // zero bias, set by the caller
}

ModelBuilder::ModelBuilder() : owned_(std::make_shared<GraphModule>()), module_(owned_.get()) {}

ModelBuilder::ModelBuilder(GraphModule& target, Scope scope) : module_(&target), scope_(std::move(scope)) {}

ModelBuilder::ModuleScope::~ModuleScope() {
  if (builder_) builder_->scope_.pop_back();
}

std::string ModelBuilder::path(const std::string& name) const {
  if (scope_.empty()) return name;
  return name.empty() ? scope_.back().path : scope_.back().path + "." + name;
}

ModelBuilder::ModuleScope ModelBuilder::module(const std::string& name, const std::string& type) {
  scope_.push_back({path(name), type});
  return ModuleScope(this);
}

Node* ModelBuilder::stamp(Node* n, const Scope& scope, const std::string& module_type) {
  n->setScope(scope);
  n->setModuleType(module_type);
  return n;
}

Value* ModelBuilder::input(const std::string& name) { return module_->graph().input(name); }

void ModelBuilder::output(std::vector<Value*> values) { module_->graph().output(std::move(values)); }

std::shared_ptr<GraphModule> ModelBuilder::finish() {
  if (!owned_) throw RuntimeFailure("ModelBuilder::finish: this builder adds to an existing module");
  module_->lint();
  auto out = std::move(owned_);
  owned_ = std::make_shared<GraphModule>();
  module_ = owned_.get();
  scope_.clear();
  return out;
}

std::string ModelBuilder::tensorName(const std::string& name) const {
  return owned_ ? path(name) : module_->uniqueTensorName(path(name));
}

Value* ModelBuilder::parameter(const std::string& name, at::Tensor t) {
  std::string full = tensorName(name);
  module_->registerParameter(full, std::move(t));
  Value* v = module_->graph().param(full);
  stamp(v->producer(), scope_, scope_.empty() ? "" : scope_.back().type);
  return v;
}

Value* ModelBuilder::buffer(const std::string& name, at::Tensor t) {
  std::string full = tensorName(name);
  module_->registerBuffer(full, std::move(t));
  Value* v = module_->graph().param(full);
  stamp(v->producer(), scope_, scope_.empty() ? "" : scope_.back().type);
  return v;
}

Value* ModelBuilder::leaf(const std::string& name, const std::string& module_type, const std::string& op,
                          std::vector<Value*> inputs, Attrs attrs) {
  auto s = module(name, module_type);
  Node* n = module_->graph().call(op, std::move(inputs), std::move(attrs), scope_.back().path);
  return stamp(n, scope_, module_type)->output();
}

Value* ModelBuilder::functional(const std::string& op, std::vector<Value*> inputs, Attrs attrs) {
  Node* n = module_->graph().call(op, std::move(inputs), std::move(attrs), path(op));
  return stamp(n, scope_, "")->output();
}

Value* ModelBuilder::conv2d(const std::string& name, Value* x, const Conv2dOptions& o) {
  if (o.in % o.groups_ != 0 || o.out % o.groups_ != 0)
    throw RuntimeFailure("conv2d '" + path(name) + "': channels " + std::to_string(o.in) + "->" +
                         std::to_string(o.out) + " are not divisible by groups=" + std::to_string(o.groups_));
  std::vector<Value*> inputs{x};
  {
    auto s = module(name, "Conv2d");
    inputs.push_back(parameter("weight", convWeightInit(o.out, o.in / o.groups_, o.kernel, o.kernel)));
    if (o.bias_) inputs.push_back(parameter("bias", at::zeros({o.out})));
  }
  Attrs attrs{{"stride", Ints{o.stride_, o.stride_}},
              {"padding", Ints{o.padding_, o.padding_}},
              {"dilation", Ints{o.dilation_, o.dilation_}},
              {"groups", o.groups_}};
  return leaf(name, "Conv2d", "conv2d", std::move(inputs), std::move(attrs));
}

Value* ModelBuilder::batchNorm2d(const std::string& name, Value* x, int64_t channels, double eps, double momentum) {
  std::vector<Value*> inputs{x};
  {
    auto s = module(name, "BatchNorm2d");
    inputs.push_back(parameter("weight", at::ones({channels})));
    inputs.push_back(parameter("bias", at::zeros({channels})));
    inputs.push_back(buffer("running_mean", at::zeros({channels})));
    inputs.push_back(buffer("running_var", at::ones({channels})));
    inputs.push_back(buffer("num_batches_tracked", at::zeros({}, at::kLong)));
  }
  return leaf(name, "BatchNorm2d", "batch_norm", std::move(inputs), {{"eps", eps}, {"momentum", momentum}});
}

Value* ModelBuilder::linear(const std::string& name, Value* x, int64_t in, int64_t out, bool bias, LinearInit init) {
  std::vector<Value*> inputs{x};
  {
    auto s = module(name, "Linear");
    at::Tensor w = at::empty({out, in});
    at::Tensor b = at::zeros({out});
    if (init == LinearInit::Normal001) {
      w.normal_(0.0, 0.01);
    } else {
      // kaiming_uniform_(a=sqrt(5)) reduces to U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
      double bound = 1.0 / std::sqrt(static_cast<double>(in));
      w.uniform_(-bound, bound);
      b.uniform_(-bound, bound);
    }
    inputs.push_back(parameter("weight", w));
    if (bias) inputs.push_back(parameter("bias", b));
  }
  return leaf(name, "Linear", "linear", std::move(inputs));
}

Value* ModelBuilder::maxPool2d(const std::string& name, Value* x, int64_t kernel, int64_t stride, int64_t padding) {
  return leaf(name, "MaxPool2d", "max_pool2d", {x},
              {{"kernel_size", Ints{kernel, kernel}}, {"stride", Ints{stride, stride}},
               {"padding", Ints{padding, padding}}, {"dilation", Ints{1, 1}}, {"ceil_mode", false}});
}

Value* ModelBuilder::adaptiveAvgPool2d(const std::string& name, Value* x, Ints output_size) {
  return leaf(name, "AdaptiveAvgPool2d", "adaptive_avg_pool2d", {x}, {{"output_size", std::move(output_size)}});
}

Value* ModelBuilder::flatten(const std::string& name, Value* x, int64_t start_dim) {
  return leaf(name, "Flatten", "flatten", {x}, {{"start_dim", start_dim}, {"end_dim", int64_t{-1}}});
}

}  // namespace edgeopt::ir
