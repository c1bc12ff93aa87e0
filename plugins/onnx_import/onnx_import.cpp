// ONNX -> EdgeOpt IR. See onnx_import.h.
//
// Every ONNX value is a Val: a constant (initializer, Constant node, or a
// computation on constants, evaluated here with ATen) or an IR value. Each
// node converter looks at its inputs: all constant -> the result is computed
// now; otherwise it emits IR ops, turning the constants it consumes into
// parameters or buffers. Shapes are propagated as nodes are emitted (the
// registry's shape functions), so converters can resolve Reshape's 0, SAME
// padding or Flatten's axis.
#include "onnx_import.h"

#include "onnx_tensor.h"

#include <edgeopt/error.h>
#include <edgeopt/ir/executor.h>
#include <edgeopt/ir/op_registry.h>

#include <ATen/ATen.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace edgeopt::onnx_import {
namespace {

using ir::Attrs;
using ir::Doubles;
using ir::Ints;
using ir::Shape;

constexpr double kFloatMax = 3.4028234663852886e38;  // stands in for +-inf bounds (JSON has no inf)

struct Val {
  at::Tensor constant;          // defined: known while importing
  ir::Value* value = nullptr;   // otherwise: the IR value
  bool poison = false;          // produced by an unsupported node
  std::string name;             // ONNX name (names the parameter a constant becomes)
  bool isConst() const { return constant.defined(); }
};

enum class Kind { Parameter, Buffer };

// Valid EdgeOpt tensor/node names: [A-Za-z0-9_.], not empty.
std::string sanitize(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.') ? c : '_';
  while (!out.empty() && out.front() == '.') out.erase(out.begin());
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Ints toInts(const at::Tensor& t) {
  at::Tensor c = t.to(at::kLong).contiguous().flatten();
  return Ints(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Runs one IR op on constant tensors (constant folding with the IR's own kernels).
std::vector<at::Tensor> runIrOp(const std::string& op, const std::vector<at::Tensor>& inputs, const Attrs& attrs,
                                size_t num_outputs) {
  ir::Graph g;
  std::vector<ir::Value*> ins;
  for (size_t i = 0; i < inputs.size(); ++i) ins.push_back(g.input("in" + std::to_string(i)));
  ir::Node* n = g.call(op, ins, attrs, "", num_outputs);
  g.output(n->outputs());
  ir::Executor ex(g);
  ir::ExecContext ctx;
  at::NoGradGuard no_grad;
  return ex.run(inputs, [](const std::string& name) -> const at::Tensor& {
    throw RuntimeFailure("no parameter " + name);
  }, ctx);
}

// A converter could not handle its node; the message says why.
struct Unsupported {
  std::string reason;
};

class Importer {
 public:
  explicit Importer(const ImportOptions& o) : opt_(o), gm_(std::make_shared<GraphModule>()) {}
  std::shared_ptr<GraphModule> run();

 private:
  void readModel();
  void addInputs();
  void convert(const onnx::NodeProto& node);
  void convertNode();
  std::optional<std::vector<at::Tensor>> evalConst();
  void finish();

  // Node context
  const onnx::AttributeProto* attr(const std::string& name) const;
  bool hasAttr(const std::string& name) const { return attr(name) != nullptr; }
  int64_t attrInt(const std::string& name, int64_t fallback) const;
  double attrFloat(const std::string& name, double fallback) const;
  std::string attrString(const std::string& name, const std::string& fallback) const;
  std::optional<Ints> attrInts(const std::string& name) const;
  const Val* in(size_t i) const;
  const Val& req(size_t i) const;
  bool outputUsed(size_t i) const { return i < static_cast<size_t>(node_->output_size()) && !node_->output(i).empty(); }
  void setOut(size_t i, Val v);
  [[noreturn]] void fail(const std::string& reason) const { throw Unsupported{reason}; }

  // Values
  std::optional<Shape> shapeOf(const Val& v) const;
  std::optional<int64_t> rankOf(const Val& v) const;
  std::optional<c10::ScalarType> dtypeOf(const Val& v) const;
  Ints constInts(const Val* v, const std::string& what) const;
  std::optional<double> constScalar(const Val& v) const;
  ir::Value* irOf(const Val& v, Kind kind = Kind::Buffer);
  // The parameter/buffer holding `t`, named after its ONNX value; one per
  // (name, tag, kind), `tag` telling derived tensors (a transposed weight) apart.
  ir::Value* paramFrom(const at::Tensor& t, const std::string& onnx_name, Kind kind, const std::string& tag = "");
  ir::Node* emitNode(const std::string& op, std::vector<ir::Value*> inputs, Attrs attrs = {}, size_t num_outputs = 1);
  ir::Value* emit(const std::string& op, std::vector<ir::Value*> inputs, Attrs attrs = {}) {
    return emitNode(op, std::move(inputs), std::move(attrs))->output();
  }
  Val wrap(ir::Value* v) const {
    Val out;
    out.value = v;
    return out;
  }
  // Elementwise IR op on Vals: folded when every input is constant.
  Val apply(const std::string& op, const std::vector<const Val*>& inputs, Attrs attrs = {});
  bool hasOp(const std::string& op) const { return ir::OpRegistry::instance().find(op) != nullptr; }
  std::optional<std::pair<Ints, Ints>> spatialPads(const Val& x, const Ints& kernel, const Ints& strides,
                                                    const Ints& dilations) const;

  // Converters with several cases
  void conv(bool transposed);
  void pool(bool max);
  void binary(const std::string& op);
  void gemm();
  void matmul();
  void reshapeTo(const Shape& out);

  const ImportOptions& opt_;
  std::shared_ptr<GraphModule> gm_;
  onnx::ModelProto model_;
  std::string base_dir_;
  int64_t opset_ = 0;
  std::unordered_map<std::string, Val> vals_;
  std::unordered_map<std::string, int32_t> elem_types_;
  std::map<std::pair<std::string, Kind>, ir::Value*> materialized_;
  std::vector<std::pair<std::string, std::string>> unsupported_;  // op type -> where (and why)

  const onnx::NodeProto* node_ = nullptr;
  std::string node_name_, module_type_;
  ir::Scope scope_;
};

// ---------------------------------------------------------------------------
// Node context

const onnx::AttributeProto* Importer::attr(const std::string& name) const {
  for (const auto& a : node_->attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

int64_t Importer::attrInt(const std::string& name, int64_t fallback) const {
  const auto* a = attr(name);
  return a ? a->i() : fallback;
}

double Importer::attrFloat(const std::string& name, double fallback) const {
  const auto* a = attr(name);
  return a ? static_cast<double>(a->f()) : fallback;
}

std::string Importer::attrString(const std::string& name, const std::string& fallback) const {
  const auto* a = attr(name);
  return a ? a->s() : fallback;
}

std::optional<Ints> Importer::attrInts(const std::string& name) const {
  const auto* a = attr(name);
  if (!a) return std::nullopt;
  return Ints(a->ints().begin(), a->ints().end());
}

const Val* Importer::in(size_t i) const {
  if (i >= static_cast<size_t>(node_->input_size()) || node_->input(i).empty()) return nullptr;
  auto it = vals_.find(node_->input(i));
  if (it == vals_.end())
    throw InputError(opt_.path + ": node '" + node_->name() + "' (" + node_->op_type() + ") reads '" +
                     node_->input(i) + "', which no node or initializer defines before it");
  return &it->second;
}

const Val& Importer::req(size_t i) const {
  const Val* v = in(i);
  if (!v) throw Unsupported{"input " + std::to_string(i) + " is missing"};
  return *v;
}

void Importer::setOut(size_t i, Val v) {
  if (!outputUsed(i)) return;
  v.name = node_->output(i);
  vals_[node_->output(i)] = std::move(v);
}

std::optional<Shape> Importer::shapeOf(const Val& v) const {
  if (v.isConst()) return v.constant.sizes().vec();
  if (v.value && v.value->shape()) return *v.value->shape();
  return std::nullopt;
}

std::optional<int64_t> Importer::rankOf(const Val& v) const {
  if (auto s = shapeOf(v)) return static_cast<int64_t>(s->size());
  return std::nullopt;
}

std::optional<c10::ScalarType> Importer::dtypeOf(const Val& v) const {
  if (v.isConst()) return v.constant.scalar_type();
  auto it = elem_types_.find(v.name);
  if (it == elem_types_.end()) return std::nullopt;
  return scalarTypeOf(it->second);
}

Ints Importer::constInts(const Val* v, const std::string& what) const {
  if (!v || !v->isConst()) fail(what + " must be a constant");
  return toInts(v->constant);
}

std::optional<double> Importer::constScalar(const Val& v) const {
  if (!v.isConst() || v.constant.numel() != 1) return std::nullopt;
  return v.constant.to(at::kDouble).item<double>();
}

ir::Value* Importer::paramFrom(const at::Tensor& t, const std::string& onnx_name, Kind kind, const std::string& tag) {
  if (!t.is_floating_point()) kind = Kind::Buffer;  // only float tensors can train
  auto key = std::make_pair(onnx_name + "\n" + tag, kind);
  auto it = materialized_.find(key);
  if (it != materialized_.end()) return it->second;
  std::string base = sanitize(onnx_name);
  if (base.empty()) base = node_name_ + ".const";
  std::string name = base;
  for (int i = 1; gm_->hasTensor(name); ++i) name = base + "_" + std::to_string(i);
  if (kind == Kind::Parameter) gm_->registerParameter(name, t.clone());
  else gm_->registerBuffer(name, t.clone());
  ir::Value* v = gm_->graph().param(name);
  v->setShape(t.sizes().vec());
  auto dot = name.rfind('.');
  if (dot != std::string::npos) {
    ir::Scope scope;
    std::string owner = name.substr(0, dot);
    if (owner == node_name_) scope = scope_;
    v->producer()->setScope(scope);
    v->producer()->setModuleType(owner == node_name_ ? module_type_ : "");
  }
  materialized_[key] = v;
  return v;
}

ir::Value* Importer::irOf(const Val& v, Kind kind) {
  if (v.poison) fail("input is poisoned");
  if (v.isConst()) return paramFrom(v.constant, v.name, kind);
  return v.value;
}

ir::Node* Importer::emitNode(const std::string& op, std::vector<ir::Value*> inputs, Attrs attrs,
                             size_t num_outputs) {
  const ir::OpDef* def = ir::OpRegistry::instance().find(op);
  if (!def) fail("EdgeOpt's IR has no '" + op + "' op");
  ir::Node* n = gm_->graph().call(op, inputs, std::move(attrs), node_name_, num_outputs);
  n->setModuleType(module_type_);
  n->setScope(scope_);
  std::vector<Shape> shapes;
  for (ir::Value* v : inputs) {
    if (!v->shape()) return n;
    shapes.push_back(*v->shape());
  }
  std::vector<Shape> out;
  try {
    out = def->shape(*n, shapes);
  } catch (const std::exception& e) {
    throw InputError(opt_.path + ": node '" + node_->name() + "' (" + node_->op_type() + "): " + e.what());
  }
  for (size_t i = 0; i < out.size() && i < n->numOutputs(); ++i) n->output(i)->setShape(out[i]);
  return n;
}

Val Importer::apply(const std::string& op, const std::vector<const Val*>& inputs, Attrs attrs) {
  bool all_const = true;
  for (const Val* v : inputs) all_const = all_const && v->isConst();
  if (all_const) {
    std::vector<at::Tensor> ts;
    for (const Val* v : inputs) ts.push_back(v->constant);
    Val out;
    out.constant = runIrOp(op, ts, attrs, 1)[0];
    return out;
  }
  std::vector<ir::Value*> ins;
  for (const Val* v : inputs) ins.push_back(irOf(*v));
  return wrap(emit(op, ins, std::move(attrs)));
}

// Begin/end padding per spatial dim from pads or auto_pad.
std::optional<std::pair<Ints, Ints>> Importer::spatialPads(const Val& x, const Ints& kernel, const Ints& strides,
                                                           const Ints& dilations) const {
  const size_t k = kernel.size();
  const std::string auto_pad = attrString("auto_pad", "NOTSET");
  Ints begin(k, 0), end(k, 0);
  if (auto_pad == "NOTSET") {
    Ints pads = attrInts("pads").value_or(Ints(2 * k, 0));
    if (pads.size() != 2 * k) fail("pads has " + std::to_string(pads.size()) + " values");
    for (size_t i = 0; i < k; ++i) {
      begin[i] = pads[i];
      end[i] = pads[k + i];
    }
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    auto shape = shapeOf(x);
    if (!shape || shape->size() != k + 2) fail("auto_pad " + auto_pad + " needs a known input shape");
    for (size_t i = 0; i < k; ++i) {
      int64_t in = (*shape)[2 + i];
      int64_t out = (in + strides[i] - 1) / strides[i];
      int64_t total = std::max<int64_t>(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - in);
      begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      end[i] = total - begin[i];
    }
  } else if (auto_pad != "VALID") {
    fail("auto_pad '" + auto_pad + "'");
  }
  return std::make_pair(begin, end);
}

// ---------------------------------------------------------------------------
// Converters

void Importer::conv(bool transposed) {
  const Val& x = req(0);
  const Val& w = req(1);
  auto ws = shapeOf(w);
  if (!ws || ws->size() != 4) fail("only 2-d convolutions (4-d weights) are supported");
  Ints kernel{(*ws)[2], (*ws)[3]};
  if (auto ks = attrInts("kernel_shape"); ks && *ks != kernel) fail("kernel_shape does not match the weight");
  Ints strides = attrInts("strides").value_or(Ints{1, 1});
  Ints dilations = attrInts("dilations").value_or(Ints{1, 1});
  int64_t groups = attrInt("group", 1);
  std::vector<ir::Value*> ins{nullptr, irOf(w, Kind::Parameter)};
  if (const Val* b = in(2)) ins.push_back(irOf(*b, Kind::Parameter));
  if (transposed) {
    if (hasAttr("output_shape")) fail("ConvTranspose with output_shape");
    if (attrString("auto_pad", "NOTSET") != "NOTSET" && attrString("auto_pad", "NOTSET") != "VALID")
      fail("ConvTranspose with auto_pad " + attrString("auto_pad", ""));
    auto pads = spatialPads(x, kernel, strides, dilations);
    if (pads->first != pads->second) fail("asymmetric pads");
    Ints output_padding = attrInts("output_padding").value_or(Ints{0, 0});
    ins[0] = irOf(x);
    setOut(0, wrap(emit("conv_transpose2d", ins,
                        {{"stride", strides}, {"padding", pads->first}, {"output_padding", output_padding},
                         {"dilation", dilations}, {"groups", groups}})));
    return;
  }
  auto pads = spatialPads(x, kernel, strides, dilations);
  ir::Value* xv = irOf(x);
  Ints padding = pads->first;
  if (pads->first != pads->second) {
    if (!hasOp("pad")) fail("asymmetric pads");
    xv = emit("pad", {xv}, {{"pad", Ints{pads->first[1], pads->second[1], pads->first[0], pads->second[0]}}});
    padding = Ints{0, 0};
  }
  ins[0] = xv;
  setOut(0, wrap(emit("conv2d", ins,
                      {{"stride", strides}, {"padding", padding}, {"dilation", dilations}, {"groups", groups}})));
}

void Importer::pool(bool max) {
  const Val& x = req(0);
  auto kernel = attrInts("kernel_shape");
  if (!kernel || kernel->size() != 2) fail("only 2-d pooling is supported");
  if (outputUsed(1)) fail("the Indices output");
  if (attrInt("storage_order", 0) != 0) fail("storage_order 1");
  Ints strides = attrInts("strides").value_or(Ints{1, 1});
  Ints dilations = attrInts("dilations").value_or(Ints{1, 1});
  bool ceil = attrInt("ceil_mode", 0) != 0;
  auto type = dtypeOf(x);
  if (type && !at::isFloatingType(*type)) fail("pooling of integers");
  auto pads = spatialPads(x, *kernel, strides, dilations);
  ir::Value* xv = irOf(x);
  Ints padding = pads->first;
  bool explicit_pad = pads->first != pads->second;
  for (size_t i = 0; i < 2; ++i) explicit_pad = explicit_pad || padding[i] * 2 > (*kernel)[i];  // ATen's limit
  if (explicit_pad) {
    // Padding the input first: with -max for max pooling, with zeros for an
    // average that counts the padding; not for ceil_mode (windows would change).
    const bool count_pad = attrInt("count_include_pad", 0) != 0;
    if (!hasOp("pad") || ceil || (!max && !count_pad)) fail("asymmetric or large pads");
    Attrs pad_attrs{{"pad", Ints{pads->first[1], pads->second[1], pads->first[0], pads->second[0]}}};
    if (max) pad_attrs.insert_or_assign("value", -kFloatMax);
    xv = emit("pad", {xv}, std::move(pad_attrs));
    padding = Ints{0, 0};
  }
  if (max) {
    setOut(0, wrap(emit("max_pool2d", {xv}, {{"kernel_size", *kernel}, {"stride", strides}, {"padding", padding},
                                             {"dilation", dilations}, {"ceil_mode", ceil}})));
  } else {
    if (dilations != Ints{1, 1}) fail("dilated average pooling");
    setOut(0, wrap(emit("avg_pool2d", {xv}, {{"kernel_size", *kernel}, {"stride", strides}, {"padding", padding},
                                             {"ceil_mode", ceil},
                                             {"count_include_pad", attrInt("count_include_pad", 0) != 0}})));
  }
}

// Add/Sub/Mul/Div with numpy broadcasting; a constant scalar operand becomes
// the IR op's `other` attribute (floating tensors only, so dtypes stay ONNX's).
void Importer::binary(const std::string& op) {
  const Val& a = req(0);
  const Val& b = req(1);
  if (hasAttr("axis") && attrInt("broadcast", 0) != 0) {
    // Before opset 7: B's dims line up with A's from `axis` on; trailing 1s make that numpy broadcasting.
    auto ra = rankOf(a);
    auto sb = shapeOf(b);
    if (!ra || !sb) fail("legacy broadcasting with an axis needs known shapes");
    int64_t axis = attrInt("axis", 0);
    if (axis < 0) axis += *ra;
    Shape shape = *sb;
    for (int64_t i = axis + static_cast<int64_t>(sb->size()); i < *ra; ++i) shape.push_back(1);
    Val aligned;
    if (b.isConst()) aligned.constant = b.constant.reshape(shape);
    else aligned.value = emit("reshape", {irOf(b)}, {{"shape", shape}});
    aligned.name = b.name + "_aligned";
    if (a.isConst()) fail("legacy broadcasting of two constants");
    return setOut(0, wrap(emit(op, {irOf(a), irOf(aligned)})));
  }
  auto ta = dtypeOf(a);
  if (op == "div" && ta && !at::isFloatingType(*ta)) fail("integer division");
  auto scalarOperand = [&](const Val& c, const Val& t) {
    auto s = constScalar(c);
    auto rank_t = rankOf(t);
    return s && !t.isConst() && rank_t && static_cast<int64_t>(c.constant.dim()) <= *rank_t &&
           at::isFloatingType(c.constant.scalar_type()) && dtypeOf(t) &&
           at::isFloatingType(*dtypeOf(t)) ? s : std::nullopt;
  };
  if (auto s = scalarOperand(b, a)) return setOut(0, wrap(emit(op, {irOf(a)}, {{"other", *s}})));
  if (op == "add" || op == "mul")
    if (auto s = scalarOperand(a, b)) return setOut(0, wrap(emit(op, {irOf(b)}, {{"other", *s}})));
  setOut(0, wrap(emit(op, {irOf(a), irOf(b)})));
}

void Importer::gemm() {
  const Val& a = req(0);
  const Val& b = req(1);
  const Val* c = in(2);
  double alpha = attrFloat("alpha", 1.0), beta = attrFloat("beta", 1.0);
  bool trans_a = attrInt("transA", 0) != 0, trans_b = attrInt("transB", 0) != 0;
  ir::Value* av = irOf(a);
  if (trans_a) av = emit("transpose", {av}, {{"dim0", int64_t{0}}, {"dim1", int64_t{1}}});
  if (b.isConst() && b.constant.dim() == 2 && b.constant.is_floating_point()) {
    // A linear layer: weight [N, K] (transB=1 is nn.Linear's layout).
    at::Tensor w = trans_b ? b.constant : b.constant.t().contiguous();
    if (alpha != 1.0) w = w * alpha;
    std::vector<ir::Value*> ins{av, paramFrom(w, b.name, Kind::Parameter, trans_b && alpha == 1.0 ? "" : "gemm")};
    const int64_t n = w.size(0);
    if (c && c->isConst() && c->constant.numel() >= 1 && (c->constant.numel() == n || c->constant.numel() == 1) &&
        (c->constant.dim() <= 1 || (c->constant.dim() == 2 && c->constant.size(0) == 1))) {
      at::Tensor bias = c->constant.flatten().expand({n}).contiguous();
      if (beta != 1.0) bias = bias * beta;
      ins.push_back(paramFrom(bias, c->name, Kind::Parameter, "gemm_bias"));
      return setOut(0, wrap(emit("linear", ins)));
    }
    ir::Value* y = emit("linear", ins);
    if (c && beta != 0.0) {
      ir::Value* cv = irOf(*c);
      if (beta != 1.0) cv = emit("mul", {cv}, {{"other", beta}});
      y = emit("add", {y, cv});
    }
    return setOut(0, wrap(y));
  }
  ir::Value* bv = irOf(b);
  if (trans_b) bv = emit("transpose", {bv}, {{"dim0", int64_t{0}}, {"dim1", int64_t{1}}});
  ir::Value* y = emit("matmul", {av, bv});
  if (alpha != 1.0) y = emit("mul", {y}, {{"other", alpha}});
  if (c && beta != 0.0) {
    ir::Value* cv = irOf(*c);
    if (beta != 1.0) cv = emit("mul", {cv}, {{"other", beta}});
    y = emit("add", {y, cv});
  }
  setOut(0, wrap(y));
}

void Importer::matmul() {
  const Val& a = req(0);
  const Val& b = req(1);
  if (!a.isConst() && b.isConst() && b.constant.dim() == 2 && b.constant.is_floating_point()) {
    // x @ W with a constant W [K, N]: a linear layer with weight W^T.
    at::Tensor w = b.constant.t().contiguous();
    return setOut(0, wrap(emit("linear", {irOf(a), paramFrom(w, b.name, Kind::Parameter, "T")})));
  }
  setOut(0, wrap(emit("matmul", {irOf(a), irOf(b)})));
}

// Reshape to a fully known shape (Unsqueeze/Squeeze/Flatten of non-constants).
void Importer::reshapeTo(const Shape& out) {
  setOut(0, wrap(emit("reshape", {irOf(req(0))}, {{"shape", out}})));
}

// ---------------------------------------------------------------------------
// Constants: ops evaluated with ATen when all their inputs are known.

std::optional<std::vector<at::Tensor>> Importer::evalConst() {
  const std::string& op = node_->op_type();
  std::vector<at::Tensor> c;
  for (int i = 0; i < node_->input_size(); ++i) {
    const Val* v = in(i);
    if (v && !v->isConst()) return std::nullopt;
    c.push_back(v ? v->constant : at::Tensor());
  }
  auto arg = [&](size_t i) -> const at::Tensor& {
    if (i >= c.size() || !c[i].defined()) fail("input " + std::to_string(i) + " is missing");
    return c[i];
  };
  auto axisOf = [&](int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; };
  using T = std::vector<at::Tensor>;
  if (op == "Identity") return T{arg(0)};
  if (op == "Neg") return T{at::neg(arg(0))};
  if (op == "Abs") return T{at::abs(arg(0))};
  if (op == "Sqrt") return T{at::sqrt(arg(0))};
  if (op == "Exp") return T{at::exp(arg(0))};
  if (op == "Log") return T{at::log(arg(0))};
  if (op == "Floor") return T{at::floor(arg(0))};
  if (op == "Ceil") return T{at::ceil(arg(0))};
  if (op == "Reciprocal") return T{at::reciprocal(arg(0))};
  if (op == "Not") return T{at::logical_not(arg(0))};
  if (op == "Add") return T{at::add(arg(0), arg(1)).to(arg(0).scalar_type())};
  if (op == "Sub") return T{at::sub(arg(0), arg(1)).to(arg(0).scalar_type())};
  if (op == "Mul") return T{at::mul(arg(0), arg(1)).to(arg(0).scalar_type())};
  if (op == "Div") {
    if (arg(0).is_floating_point()) return T{at::div(arg(0), arg(1))};
    return T{at::div(arg(0), arg(1), "trunc").to(arg(0).scalar_type())};
  }
  if (op == "Pow") return T{at::pow(arg(0), arg(1)).to(arg(0).scalar_type())};
  if (op == "Min" || op == "Max") {
    at::Tensor r = arg(0);
    for (size_t i = 1; i < c.size(); ++i) r = op == "Min" ? at::minimum(r, arg(i)) : at::maximum(r, arg(i));
    return T{r};
  }
  if (op == "Equal") return T{at::eq(arg(0), arg(1))};
  if (op == "Less") return T{at::lt(arg(0), arg(1))};
  if (op == "Greater") return T{at::gt(arg(0), arg(1))};
  if (op == "LessOrEqual") return T{at::le(arg(0), arg(1))};
  if (op == "GreaterOrEqual") return T{at::ge(arg(0), arg(1))};
  if (op == "And") return T{at::logical_and(arg(0), arg(1))};
  if (op == "Or") return T{at::logical_or(arg(0), arg(1))};
  if (op == "Xor") return T{at::logical_xor(arg(0), arg(1))};
  if (op == "Where") return T{at::where(arg(0), arg(1), arg(2))};
  if (op == "Shape") {
    int64_t rank = arg(0).dim();
    int64_t start = axisOf(attrInt("start", 0), rank), end = axisOf(attrInt("end", rank), rank);
    start = std::clamp<int64_t>(start, 0, rank);
    end = std::clamp<int64_t>(end, start, rank);
    Ints sizes = arg(0).sizes().vec();
    return T{at::tensor(Ints(sizes.begin() + start, sizes.begin() + end), at::kLong)};
  }
  if (op == "Size") return T{at::scalar_tensor(arg(0).numel(), at::kLong)};
  if (op == "Cast") {
    auto type = scalarTypeOf(static_cast<int>(attrInt("to", 1)));
    if (!type) fail("Cast to an unsupported type");
    return T{arg(0).to(*type)};
  }
  if (op == "CastLike") return T{arg(0).to(arg(1).scalar_type())};
  if (op == "ConstantOfShape") {
    at::Tensor value = at::zeros({1}, at::kFloat);
    if (const auto* a = attr("value")) value = tensorFromProto(a->t(), base_dir_);
    return T{at::full(toInts(arg(0)), value.flatten()[0].item(), value.options())};
  }
  if (op == "Range") {
    return T{at::arange(arg(0).item(), arg(1).item(), arg(2).item(), arg(0).options()).to(arg(0).scalar_type())};
  }
  if (op == "Expand") {
    Ints shape = toInts(arg(1));
    return T{arg(0).expand(at::infer_size(arg(0).sizes(), shape)).contiguous()};
  }
  if (op == "Tile") return T{arg(0).repeat(toInts(arg(1)))};
  if (op == "Gather") {
    const at::Tensor& data = arg(0);
    int64_t axis = axisOf(attrInt("axis", 0), data.dim());
    at::Tensor idx = arg(1).to(at::kLong);
    idx = at::where(idx < 0, idx + data.size(axis), idx);
    Ints shape(data.sizes().begin(), data.sizes().begin() + axis);
    for (int64_t d : idx.sizes()) shape.push_back(d);
    for (int64_t d = axis + 1; d < data.dim(); ++d) shape.push_back(data.size(d));
    return T{data.index_select(axis, idx.flatten()).reshape(shape)};
  }
  if (op == "Unsqueeze") {
    Ints axes = opset_ >= 13 ? toInts(arg(1)) : attrInts("axes").value_or(Ints{});
    int64_t rank = arg(0).dim() + static_cast<int64_t>(axes.size());
    for (auto& a : axes) a = axisOf(a, rank);
    std::sort(axes.begin(), axes.end());
    at::Tensor r = arg(0);
    for (int64_t a : axes) r = r.unsqueeze(a);
    return T{r};
  }
  if (op == "Squeeze") {
    Ints axes;
    if (opset_ >= 13 && c.size() > 1 && c[1].defined()) axes = toInts(c[1]);
    else if (auto a = attrInts("axes")) axes = *a;
    at::Tensor r = arg(0);
    if (axes.empty()) return T{r.squeeze()};
    for (auto& a : axes) a = axisOf(a, r.dim());
    std::sort(axes.rbegin(), axes.rend());
    for (int64_t a : axes) r = r.squeeze(a);
    return T{r};
  }
  if (op == "Concat") {
    std::vector<at::Tensor> parts;
    for (size_t i = 0; i < c.size(); ++i)
      if (c[i].defined()) parts.push_back(c[i]);
    return T{at::cat(parts, attrInt("axis", 0))};
  }
  if (op == "Reshape") {
    Ints shape = toInts(arg(1));
    if (attrInt("allowzero", 0) == 0)
      for (size_t i = 0; i < shape.size(); ++i)
        if (shape[i] == 0) shape[i] = arg(0).size(static_cast<int64_t>(i));
    return T{arg(0).reshape(shape).contiguous()};
  }
  if (op == "Transpose") {
    Ints perm = attrInts("perm").value_or(Ints{});
    if (perm.empty())
      for (int64_t d = arg(0).dim() - 1; d >= 0; --d) perm.push_back(d);
    return T{arg(0).permute(perm).contiguous()};
  }
  if (op == "Slice") {
    Ints starts, ends, axes, steps;
    if (opset_ < 10) {
      starts = attrInts("starts").value_or(Ints{});
      ends = attrInts("ends").value_or(Ints{});
      axes = attrInts("axes").value_or(Ints{});
    } else {
      starts = toInts(arg(1));
      ends = toInts(arg(2));
      if (c.size() > 3 && c[3].defined()) axes = toInts(c[3]);
      if (c.size() > 4 && c[4].defined()) steps = toInts(c[4]);
    }
    if (axes.empty())
      for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    if (steps.empty()) steps = Ints(starts.size(), 1);
    at::Tensor r = arg(0);
    for (size_t i = 0; i < starts.size(); ++i) {
      if (steps[i] <= 0) fail("Slice with a negative step");
      r = r.slice(axisOf(axes[i], r.dim()), starts[i], ends[i], steps[i]);
    }
    return T{r.contiguous()};
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------

void Importer::convertNode() {
  const std::string& op = node_->op_type();

  if (op == "Constant") {
    Val v;
    if (const auto* a = attr("value")) v.constant = tensorFromProto(a->t(), base_dir_);
    else if (const auto* f = attr("value_float")) v.constant = at::scalar_tensor(f->f(), at::kFloat);
    else if (const auto* fs = attr("value_floats"))
      v.constant = at::tensor(std::vector<float>(fs->floats().begin(), fs->floats().end()), at::kFloat);
    else if (const auto* i = attr("value_int")) v.constant = at::scalar_tensor(i->i(), at::kLong);
    else if (auto is = attrInts("value_ints")) v.constant = at::tensor(*is, at::kLong);
    else fail("a sparse or string constant");
    return setOut(0, v);
  }
  if (op == "Shape" || op == "Size") {
    // Known input shapes make these constants even for run-time tensors.
    const Val& x = req(0);
    if (!x.isConst()) {
      auto shape = shapeOf(x);
      if (!shape) fail("needs a known input shape");
      Val out;
      int64_t rank = static_cast<int64_t>(shape->size());
      if (op == "Size") {
        int64_t n = 1;
        for (int64_t d : *shape) n *= d;
        out.constant = at::scalar_tensor(n, at::kLong);
      } else {
        int64_t start = attrInt("start", 0), end = attrInt("end", rank);
        if (start < 0) start += rank;
        if (end < 0) end += rank;
        start = std::clamp<int64_t>(start, 0, rank);
        end = std::clamp<int64_t>(end, start, rank);
        out.constant = at::tensor(Ints(shape->begin() + start, shape->begin() + end), at::kLong);
      }
      return setOut(0, out);
    }
  }
  if (auto folded = evalConst()) {
    for (size_t i = 0; i < folded->size(); ++i) {
      Val v;
      v.constant = (*folded)[i];
      setOut(i, v);
    }
    return;
  }

  if (op == "Conv") return conv(false);
  if (op == "ConvTranspose") return conv(true);
  if (op == "MaxPool") return pool(true);
  if (op == "AveragePool") return pool(false);
  if (op == "GlobalAveragePool" || op == "GlobalMaxPool") {
    const Val& x = req(0);
    auto shape = shapeOf(x);
    if (op == "GlobalAveragePool") {
      if (!shape || shape->size() == 4)
        return setOut(0, wrap(emit("adaptive_avg_pool2d", {irOf(x)}, {{"output_size", Ints{1, 1}}})));
      Ints dims;
      for (size_t d = 2; d < shape->size(); ++d) dims.push_back(static_cast<int64_t>(d));
      return setOut(0, wrap(emit("mean", {irOf(x)}, {{"dim", dims}, {"keepdim", true}})));
    }
    if (!shape || shape->size() != 4) fail("needs a known 4-d input shape");
    Ints k{(*shape)[2], (*shape)[3]};
    return setOut(0, wrap(emit("max_pool2d", {irOf(x)}, {{"kernel_size", k}, {"stride", k}})));
  }
  if (op == "BatchNormalization") {
    for (int i = 1; i < node_->output_size(); ++i)
      if (outputUsed(i)) fail("training outputs (mean, var)");
    if (attrInt("training_mode", 0) != 0) fail("training_mode=1");
    if (attrInt("spatial", 1) != 1) fail("spatial=0");
    const Val& x = req(0);
    std::vector<ir::Value*> ins{irOf(x), irOf(req(1), Kind::Parameter), irOf(req(2), Kind::Parameter),
                                irOf(req(3), Kind::Buffer), irOf(req(4), Kind::Buffer)};
    return setOut(0, wrap(emit("batch_norm", ins, {{"eps", attrFloat("epsilon", 1e-5)},
                                                   {"momentum", 1.0 - attrFloat("momentum", 0.9)}})));
  }
  if (op == "InstanceNormalization") {
    const Val& scale = req(1);
    std::vector<ir::Value*> ins{irOf(req(0)), irOf(scale, Kind::Parameter), irOf(req(2), Kind::Parameter)};
    auto channels = shapeOf(scale);
    if (!channels || channels->size() != 1) fail("scale must be 1-d");
    return setOut(0, wrap(emit("group_norm", ins, {{"num_groups", (*channels)[0]},
                                                   {"eps", attrFloat("epsilon", 1e-5)}})));
  }
  if (op == "LayerNormalization") {
    for (int i = 1; i < node_->output_size(); ++i)
      if (outputUsed(i)) fail("the Mean/InvStdDev outputs");
    const Val& x = req(0);
    auto shape = shapeOf(x);
    if (!shape) fail("needs a known input shape");
    int64_t rank = static_cast<int64_t>(shape->size());
    int64_t axis = attrInt("axis", -1);
    if (axis < 0) axis += rank;
    std::vector<ir::Value*> ins{irOf(x), irOf(req(1), Kind::Parameter)};
    if (const Val* b = in(2)) ins.push_back(irOf(*b, Kind::Parameter));
    return setOut(0, wrap(emit("layer_norm", ins, {{"normalized_shape", Ints(shape->begin() + axis, shape->end())},
                                                   {"eps", attrFloat("epsilon", 1e-5)}})));
  }
  if (op == "Relu") return setOut(0, apply("relu", {&req(0)}));
  if (op == "Sigmoid") return setOut(0, apply("sigmoid", {&req(0)}));
  if (op == "Tanh") return setOut(0, apply("tanh", {&req(0)}));
  if (op == "HardSwish") return setOut(0, apply("hardswish", {&req(0)}));
  if (op == "LeakyRelu")
    return setOut(0, apply("leaky_relu", {&req(0)}, {{"negative_slope", attrFloat("alpha", 0.01)}}));
  if (op == "HardSigmoid") {
    double alpha = attrFloat("alpha", 0.2), beta = attrFloat("beta", 0.5);
    if (std::abs(alpha - 1.0 / 6.0) < 1e-6 && beta == 0.5) return setOut(0, apply("hardsigmoid", {&req(0)}));
    // max(0, min(1, alpha x + beta))
    ir::Value* y = emit("mul", {irOf(req(0))}, {{"other", alpha}});
    y = emit("add", {y}, {{"other", beta}});
    return setOut(0, wrap(emit("hardtanh", {y}, {{"min_val", 0.0}, {"max_val", 1.0}})));
  }
  if (op == "Clip") {
    std::optional<double> lo, hi;
    if (opset_ < 11) {
      if (hasAttr("min")) lo = attrFloat("min", 0);
      if (hasAttr("max")) hi = attrFloat("max", 0);
    } else {
      if (const Val* v = in(1)) {
        lo = constScalar(*v);
        if (!lo) fail("min must be a constant");
      }
      if (const Val* v = in(2)) {
        hi = constScalar(*v);
        if (!hi) fail("max must be a constant");
      }
    }
    auto type = dtypeOf(req(0));
    if (type && !at::isFloatingType(*type)) fail("Clip of integers");
    if (lo && *lo == 0.0 && hi && *hi == 6.0) return setOut(0, apply("relu6", {&req(0)}));
    if (lo && *lo == 0.0 && !hi) return setOut(0, apply("relu", {&req(0)}));
    return setOut(0, apply("hardtanh", {&req(0)}, {{"min_val", lo.value_or(-kFloatMax)},
                                                   {"max_val", hi.value_or(kFloatMax)}}));
  }
  if (op == "Softmax") {
    const Val& x = req(0);
    int64_t axis = attrInt("axis", opset_ >= 13 ? -1 : 1);
    if (opset_ >= 13) return setOut(0, apply("softmax", {&x}, {{"dim", axis}}));
    // Before opset 13: softmax over the input flattened to 2-d at `axis`.
    auto shape = shapeOf(x);
    if (axis == -1 || (shape && axis == static_cast<int64_t>(shape->size()) - 1))
      return setOut(0, apply("softmax", {&x}, {{"dim", int64_t{-1}}}));
    if (!shape) fail("needs a known input shape");
    int64_t rank = static_cast<int64_t>(shape->size());
    if (axis < 0) axis += rank;
    ir::Value* y = emit("flatten", {irOf(x)}, {{"start_dim", axis}, {"end_dim", int64_t{-1}}});
    y = emit("softmax", {y}, {{"dim", int64_t{-1}}});
    return setOut(0, wrap(emit("reshape", {y}, {{"shape", *shape}})));
  }
  if (op == "Add") return binary("add");
  if (op == "Sub") return binary("sub");
  if (op == "Mul") return binary("mul");
  if (op == "Div") return binary("div");
  if (op == "Sum" || op == "Mean") {
    ir::Value* y = irOf(req(0));
    for (int i = 1; i < node_->input_size(); ++i) y = emit("add", {y, irOf(req(i))});
    if (op == "Mean" && node_->input_size() > 1)
      y = emit("mul", {y}, {{"other", 1.0 / static_cast<double>(node_->input_size())}});
    if (node_->input_size() == 1) y = emit("identity", {y});
    return setOut(0, wrap(y));
  }
  if (op == "Neg") {
    auto type = dtypeOf(req(0));
    if (!type || !at::isFloatingType(*type)) fail("Neg of a non-float tensor");
    return setOut(0, wrap(emit("mul", {irOf(req(0))}, {{"other", -1.0}})));
  }
  if (op == "Concat") {
    std::vector<ir::Value*> ins;
    for (int i = 0; i < node_->input_size(); ++i)
      if (const Val* v = in(i)) ins.push_back(irOf(*v));
    return setOut(0, wrap(emit("cat", ins, {{"dim", attrInt("axis", 0)}})));
  }
  if (op == "Flatten") {
    const Val& x = req(0);
    auto shape = shapeOf(x);
    int64_t axis = attrInt("axis", 1);
    if (axis < 0) {
      if (!shape) fail("a negative axis needs a known input shape");
      axis += static_cast<int64_t>(shape->size());
    }
    if (axis == 1 && (!shape || shape->size() >= 2))
      return setOut(0, wrap(emit("flatten", {irOf(x)}, {{"start_dim", int64_t{1}}, {"end_dim", int64_t{-1}}})));
    if (axis == 0) return reshapeTo(Shape{1, -1});
    if (!shape) fail("needs a known input shape");
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < static_cast<int64_t>(shape->size()); ++d) (d < axis ? outer : inner) *= (*shape)[d];
    return reshapeTo(Shape{outer, inner});
  }
  if (op == "Reshape") {
    const Val& x = req(0);
    Ints shape = opset_ >= 5 ? constInts(in(1), "the shape") : attrInts("shape").value_or(Ints{});
    if (attrInt("allowzero", 0) == 0) {
      for (size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] != 0) continue;
        auto xs = shapeOf(x);
        if (!xs || i >= xs->size()) fail("a 0 in the shape needs a known input shape");
        shape[i] = (*xs)[i];
      }
    }
    // Exporters fold x.view(x.size(0), ...) to the traced batch size: keep the
    // batch free (-1) when the target keeps the input's first dim.
    auto xs = shapeOf(x);
    if (xs && !xs->empty() && !shape.empty() && shape[0] == (*xs)[0] && (*xs)[0] > 0 &&
        std::count(shape.begin(), shape.end(), int64_t{-1}) == 0) {
      if (shape.size() == 2 && xs->size() >= 2)
        return setOut(0, wrap(emit("flatten", {irOf(x)}, {{"start_dim", int64_t{1}}, {"end_dim", int64_t{-1}}})));
      shape[0] = -1;
    }
    return setOut(0, wrap(emit("reshape", {irOf(x)}, {{"shape", shape}})));
  }
  if (op == "Unsqueeze" || op == "Squeeze") {
    const Val& x = req(0);
    auto shape = shapeOf(x);
    if (!shape) fail("needs a known input shape");
    Ints axes;
    if (opset_ >= 13) {
      if (const Val* a = in(1)) axes = constInts(a, "axes");
    } else if (auto a = attrInts("axes")) {
      axes = *a;
    }
    Shape out;
    if (op == "Unsqueeze") {
      int64_t rank = static_cast<int64_t>(shape->size() + axes.size());
      std::set<int64_t> at_axes;
      for (int64_t a : axes) at_axes.insert(a < 0 ? a + rank : a);
      for (int64_t d = 0, k = 0; d < rank; ++d) out.push_back(at_axes.count(d) ? 1 : (*shape)[k++]);
    } else {
      int64_t rank = static_cast<int64_t>(shape->size());
      std::set<int64_t> drop;
      for (int64_t a : axes) drop.insert(a < 0 ? a + rank : a);
      for (int64_t d = 0; d < rank; ++d)
        if (!(axes.empty() ? (*shape)[d] == 1 : drop.count(d) != 0)) out.push_back((*shape)[d]);
    }
    return reshapeTo(out);
  }
  if (op == "Transpose") {
    const Val& x = req(0);
    Ints perm = attrInts("perm").value_or(Ints{});
    if (perm.empty()) {
      auto rank = rankOf(x);
      if (!rank) fail("needs a known input rank");
      for (int64_t d = *rank - 1; d >= 0; --d) perm.push_back(d);
    }
    return setOut(0, wrap(emit("permute", {irOf(x)}, {{"dims", perm}})));
  }
  if (op == "Gemm") return gemm();
  if (op == "MatMul") return matmul();
  if (op == "Dropout") {
    if (outputUsed(1)) fail("the mask output");
    double ratio = attrFloat("ratio", 0.5);
    if (opset_ >= 12) {
      if (const Val* r = in(1)) {
        auto v = constScalar(*r);
        if (!v) fail("ratio must be a constant");
        ratio = *v;
      }
      if (const Val* t = in(2)) {
        auto v = constScalar(*t);
        if (!v || *v != 0.0) fail("training_mode=true");
      }
    }
    return setOut(0, wrap(emit("dropout", {irOf(req(0))}, {{"p", ratio}})));
  }
  if (op == "Identity") return setOut(0, req(0));
  if (op == "Cast" || op == "CastLike") {
    const Val& x = req(0);
    auto from = dtypeOf(x);
    std::optional<c10::ScalarType> to =
        op == "Cast" ? scalarTypeOf(static_cast<int>(attrInt("to", 0))) : dtypeOf(req(1));
    if (from && to && *from == *to) return setOut(0, x);
    fail("a cast of a run-time tensor between dtypes (the IR has no cast op)");
  }
  if (op == "Split") {
    const Val& x = req(0);
    int64_t axis = attrInt("axis", 0);
    const size_t n = static_cast<size_t>(node_->output_size());
    Ints sizes;
    if (opset_ >= 13) {
      if (const Val* s = in(1)) sizes = constInts(s, "split");
    } else if (auto s = attrInts("split")) {
      sizes = *s;
    }
    ir::Node* node;
    if (!sizes.empty()) {
      node = emitNode("split", {irOf(x)}, {{"dim", axis}, {"split_sizes", sizes}}, sizes.size());
    } else {
      auto shape = shapeOf(x);
      if (shape) {
        int64_t d = axis < 0 ? axis + static_cast<int64_t>(shape->size()) : axis;
        int64_t piece = ((*shape)[d] + static_cast<int64_t>(n) - 1) / static_cast<int64_t>(n);
        node = emitNode("split", {irOf(x)}, {{"dim", axis}, {"split_size", piece}}, n);
      } else {
        node = emitNode("chunk", {irOf(x)}, {{"dim", axis}, {"chunks", static_cast<int64_t>(n)}}, n);
      }
    }
    if (node->numOutputs() != n) fail("the split sizes don't match the outputs");
    for (size_t i = 0; i < n; ++i) setOut(i, wrap(node->output(i)));
    return;
  }
  if (op == "Slice") {
    const Val& x = req(0);
    Ints starts, ends, axes, steps;
    if (opset_ < 10) {
      starts = attrInts("starts").value_or(Ints{});
      ends = attrInts("ends").value_or(Ints{});
      axes = attrInts("axes").value_or(Ints{});
    } else {
      starts = constInts(in(1), "starts");
      ends = constInts(in(2), "ends");
      if (const Val* a = in(3)) axes = constInts(a, "axes");
      if (const Val* s = in(4)) steps = constInts(s, "steps");
    }
    if (axes.empty())
      for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    if (steps.empty()) steps = Ints(starts.size(), 1);
    if (starts.size() != ends.size() || axes.size() != starts.size() || steps.size() != starts.size())
      fail("starts, ends, axes and steps differ in length");
    ir::Value* y = irOf(x);
    for (size_t i = 0; i < starts.size(); ++i) {
      if (steps[i] <= 0) fail("a negative step");
      y = emit("slice", {y}, {{"dim", axes[i]}, {"start", starts[i]}, {"end", ends[i]}, {"step", steps[i]}});
    }
    if (starts.empty()) y = emit("identity", {y});
    return setOut(0, wrap(y));
  }
  if (op == "Pad") {
    const Val& x = req(0);
    Ints pads;
    double value = 0.0;
    std::string mode = attrString("mode", "constant");
    if (opset_ < 11) {
      pads = attrInts("pads").value_or(attrInts("paddings").value_or(Ints{}));
      value = attrFloat("value", 0.0);
    } else {
      pads = constInts(in(1), "pads");
      if (const Val* v = in(2)) {
        auto s = constScalar(*v);
        if (!s) fail("constant_value must be a constant");
        value = *s;
      }
      if (in(3)) fail("Pad with axes");
    }
    if (pads.size() % 2) fail("an odd number of pads");
    const size_t rank = pads.size() / 2;
    // ONNX [b0.., e0..] -> F.pad's [b_last, e_last, b_last-1, e_last-1, ...], leading zero pairs dropped.
    size_t first = 0;
    while (first < rank && pads[first] == 0 && pads[rank + first] == 0) ++first;
    Ints fpad;
    for (size_t d = rank; d-- > first;) {
      fpad.push_back(pads[d]);
      fpad.push_back(pads[rank + d]);
    }
    if (fpad.empty()) return setOut(0, wrap(emit("identity", {irOf(x)})));
    if (mode == "edge") mode = "replicate";
    Attrs attrs{{"pad", fpad}, {"mode", mode}};
    if (mode == "constant") attrs.insert_or_assign("value", value);
    else if (mode != "reflect" && mode != "replicate") fail("mode '" + mode + "'");
    return setOut(0, wrap(emit("pad", {irOf(x)}, std::move(attrs))));
  }
  if (op == "Resize" || op == "Upsample") {
    const Val& x = req(0);
    auto shape = shapeOf(x);
    if (shape && shape->size() != 4) fail("only 4-d (NCHW) inputs");
    std::string mode = attrString("mode", "nearest");
    std::string ctm = op == "Upsample" || opset_ < 11 ? "asymmetric"
                                                       : attrString("coordinate_transformation_mode", "half_pixel");
    std::string nearest_mode =
        op == "Upsample" || opset_ < 11 ? "floor" : attrString("nearest_mode", "round_prefer_floor");
    if (attrInt("antialias", 0) != 0) fail("antialias");
    if (hasAttr("axes")) fail("axes");
    Attrs attrs;
    if (mode == "nearest") {
      if (ctm != "asymmetric" || nearest_mode != "floor")
        fail("nearest with coordinate_transformation_mode '" + ctm + "' and nearest_mode '" + nearest_mode +
             "' (only asymmetric + floor, PyTorch's nearest)");
      attrs.insert_or_assign("mode", std::string("nearest"));
    } else if (mode == "linear" || mode == "bilinear") {
      attrs.insert_or_assign("mode", std::string("bilinear"));
      if (ctm == "align_corners") attrs.insert_or_assign("align_corners", true);
      else if (ctm != "half_pixel" && ctm != "pytorch_half_pixel")
        fail("linear with coordinate_transformation_mode '" + ctm + "'");
    } else {
      fail("mode '" + mode + "'");
    }
    // Scales (or sizes) for N, C must be 1 (unchanged).
    Doubles scales;
    Ints sizes;
    if (op == "Upsample" && opset_ < 9) {
      auto a = attr("scales");
      if (!a) fail("missing scales");
      scales.assign(a->floats().begin(), a->floats().end());
    } else {
      const Val* s = in(op == "Upsample" || opset_ < 11 ? 1 : 2);
      const Val* z = op == "Resize" && opset_ >= 11 ? in(3) : nullptr;
      if (s && s->isConst() && s->constant.numel() > 0) {
        at::Tensor t = s->constant.to(at::kDouble).contiguous();
        scales.assign(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
      } else if (z) {
        sizes = constInts(z, "sizes");
      } else {
        fail("scales must be constants");
      }
    }
    if (!scales.empty()) {
      if (scales.size() != 4 || scales[0] != 1.0 || scales[1] != 1.0) fail("scaling batch or channels");
      attrs.insert_or_assign("scale_factor", Doubles{scales[2], scales[3]});
    } else {
      if (sizes.size() != 4 || (shape && (sizes[0] != (*shape)[0] || sizes[1] != (*shape)[1])))
        fail("resizing batch or channels");
      attrs.insert_or_assign("size", Ints{sizes[2], sizes[3]});
    }
    return setOut(0, wrap(emit("interpolate", {irOf(x)}, std::move(attrs))));
  }
  if (op == "ReduceMean") {
    const Val& x = req(0);
    Ints axes;
    if (opset_ >= 18) {
      if (const Val* a = in(1)) axes = constInts(a, "axes");
      if (axes.empty() && attrInt("noop_with_empty_axes", 0) != 0) return setOut(0, x);
    } else if (auto a = attrInts("axes")) {
      axes = *a;
    }
    Attrs attrs{{"keepdim", attrInt("keepdims", 1) != 0}};
    if (!axes.empty()) attrs.insert_or_assign("dim", axes);
    return setOut(0, wrap(emit("mean", {irOf(x)}, std::move(attrs))));
  }
  if (op == "Gather") {
    // x[..., i, ...] with a constant index: a slice (and a reshape dropping the dim).
    const Val& x = req(0);
    const Val* idx = in(1);
    if (!idx || !idx->isConst()) fail("indices known only at run time");
    auto shape = shapeOf(x);
    if (!shape) fail("needs a known input shape");
    int64_t rank = static_cast<int64_t>(shape->size());
    int64_t axis = attrInt("axis", 0);
    if (axis < 0) axis += rank;
    Ints ids = toInts(idx->constant);
    for (auto& i : ids)
      if (i < 0) i += (*shape)[axis];
    bool contiguous = !ids.empty();
    for (size_t i = 1; i < ids.size(); ++i) contiguous = contiguous && ids[i] == ids[i - 1] + 1;
    if (!contiguous || idx->constant.dim() > 1) fail("indices other than a scalar or a contiguous range");
    ir::Value* y = emit("slice", {irOf(x)}, {{"dim", axis}, {"start", ids.front()}, {"end", ids.back() + 1},
                                             {"step", int64_t{1}}});
    if (idx->constant.dim() == 0) {
      Shape out = *shape;
      out.erase(out.begin() + axis);
      y = emit("reshape", {y}, {{"shape", out}});
    }
    return setOut(0, wrap(y));
  }
  fail("");
}

void Importer::convert(const onnx::NodeProto& node) {
  node_ = &node;
  const std::string& op = node.op_type();
  // Name: the module path when the node reads "<path>.weight" (torch.onnx.export keeps state_dict names).
  node_name_.clear();
  module_type_.clear();
  scope_.clear();
  for (int i = 0; i < node.input_size(); ++i) {
    const std::string& n = node.input(i);
    auto it = vals_.find(n);
    if (it != vals_.end() && it->second.isConst() && endsWith(n, ".weight") && sanitize(n) == n) {
      node_name_ = n.substr(0, n.size() - 7);
      static const std::map<std::string, std::string> types = {
          {"Conv", "Conv2d"}, {"ConvTranspose", "ConvTranspose2d"}, {"BatchNormalization", "BatchNorm2d"},
          {"Gemm", "Linear"}, {"MatMul", "Linear"}, {"LayerNormalization", "LayerNorm"},
          {"InstanceNormalization", "InstanceNorm2d"}};
      auto t = types.find(op);
      if (t != types.end()) module_type_ = t->second;
      size_t pos = 0;
      while (true) {
        size_t dot = node_name_.find('.', pos);
        std::string prefix = node_name_.substr(0, dot);
        scope_.push_back({prefix, dot == std::string::npos ? module_type_ : ""});
        if (dot == std::string::npos) break;
        pos = dot + 1;
      }
      break;
    }
  }
  if (node_name_.empty()) node_name_ = sanitize(node.name());
  if (node_name_.empty()) node_name_ = lower(op);

  bool poisoned = false;
  for (int i = 0; i < node.input_size(); ++i) {
    const Val* v = node.input(i).empty() ? nullptr : in(i);
    poisoned = poisoned || (v && v->poison);
  }
  const std::string domain = node.domain() == "ai.onnx" ? "" : node.domain();
  std::string reason;
  bool bad = false;
  if (!domain.empty()) {
    bad = true;
    reason = "operator domain '" + domain + "'";
  } else if (poisoned) {
    // Downstream of an unsupported node: report only op types we never convert.
    static const std::unordered_set<std::string> known = {
        "Constant", "Shape", "Size", "Identity", "Neg", "Abs", "Sqrt", "Exp", "Log", "Floor", "Ceil", "Reciprocal",
        "Not", "Add", "Sub", "Mul", "Div", "Pow", "Min", "Max", "Equal", "Less", "Greater", "LessOrEqual",
        "GreaterOrEqual", "And", "Or", "Xor", "Where", "Cast", "CastLike", "ConstantOfShape", "Range", "Expand",
        "Tile", "Gather", "Unsqueeze", "Squeeze", "Concat", "Reshape", "Transpose", "Slice", "Conv",
        "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization",
        "InstanceNormalization", "LayerNormalization", "Relu", "Sigmoid", "Tanh", "HardSwish", "LeakyRelu",
        "HardSigmoid", "Clip", "Softmax", "Sum", "Mean", "Flatten", "Gemm", "MatMul", "Dropout", "Split", "Pad",
        "Resize", "Upsample", "ReduceMean"};
    bad = !known.count(op);
  } else {
    try {
      convertNode();
      return;
    } catch (const Unsupported& u) {
      bad = true;
      reason = u.reason;
    } catch (const InputError&) {
      throw;
    } catch (const std::exception& e) {
      bad = true;
      reason = e.what();
      auto nl = reason.find('\n');
      if (nl != std::string::npos) reason = reason.substr(0, nl);
    }
  }
  if (bad) {
    std::string key = domain.empty() ? op : domain + "::" + op;
    bool seen = false;
    for (auto& [k, _] : unsupported_) seen = seen || k == key;
    if (!seen)
      unsupported_.emplace_back(key, "node '" + (node.name().empty() ? node_name_ : node.name()) + "'" +
                                         (reason.empty() ? "" : ": " + reason));
  }
  for (int i = 0; i < node.output_size(); ++i) {
    Val v;
    v.poison = true;
    v.name = node.output(i);
    if (!node.output(i).empty()) vals_[node.output(i)] = v;
  }
}

// ---------------------------------------------------------------------------

void Importer::readModel() {
  const std::string& path = opt_.path;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open the ONNX file");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  if (bytes.empty()) throw InputError(path + ": the ONNX file is empty");
  if (!model_.ParseFromString(bytes))
    throw InputError(path + ": not a valid ONNX model (the protobuf does not parse; truncated or corrupted?)");
  if (!model_.has_graph()) throw InputError(path + ": not a valid ONNX model (no graph)");
  base_dir_ = std::filesystem::path(path).parent_path().string();
  for (const auto& o : model_.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = o.version();
  if (opset_ == 0) {
    std::string domains;
    for (const auto& o : model_.opset_import()) domains += (domains.empty() ? "" : ", ") + o.domain();
    throw InputError(path + ": the model imports no default ONNX opset; operators of " + domains +
                     " are not supported");
  }
  if (opset_ < 6 || opset_ > 18)
    throw InputError(path + ": opset " + std::to_string(opset_) + " is not supported (6 to 18)");
  try {
    onnx::checker::check_model(model_);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    auto nl = msg.find('\n');
    throw InputError(path + ": invalid ONNX model (" + (nl == std::string::npos ? msg : msg.substr(0, nl)) + ")");
  }
  // Element types of intermediate values, for dtype-dependent conversions.
  try {
    onnx::ModelProto inferred = model_;
    onnx::shape_inference::InferShapes(inferred);
    auto record = [&](const onnx::ValueInfoProto& v) {
      if (v.type().has_tensor_type()) elem_types_[v.name()] = v.type().tensor_type().elem_type();
    };
    for (const auto& v : inferred.graph().value_info()) record(v);
    for (const auto& v : inferred.graph().input()) record(v);
    for (const auto& v : inferred.graph().output()) record(v);
  } catch (const std::exception&) {
    for (const auto& v : model_.graph().input())
      if (v.type().has_tensor_type()) elem_types_[v.name()] = v.type().tensor_type().elem_type();
  }
}

void Importer::addInputs() {
  const auto& graph = model_.graph();
  for (const auto& init : graph.initializer()) {
    Val v;
    try {
      v.constant = tensorFromProto(init, base_dir_);
    } catch (const std::exception& e) {
      throw InputError(opt_.path + ": " + e.what());
    }
    v.name = init.name();
    vals_[init.name()] = v;
  }
  bool first = true;
  for (const auto& input : graph.input()) {
    if (vals_.count(input.name())) continue;  // an initializer listed as input (IR version < 4)
    if (!input.type().has_tensor_type())
      throw InputError(opt_.path + ": input '" + input.name() + "' is not a tensor (sequences, maps and " +
                       "optionals are not supported)");
    std::string name = sanitize(input.name());
    if (name.empty()) name = "input";
    ir::Value* v = gm_->graph().input(name);
    std::optional<Shape> shape;
    const auto& t = input.type().tensor_type();
    if (t.has_shape()) {
      Shape s;
      bool known = true;
      for (const auto& d : t.shape().dim()) {
        known = known && d.has_dim_value();
        s.push_back(d.has_dim_value() ? d.dim_value() : -1);
      }
      if (known) shape = s;
    }
    if (first && opt_.input_shape) shape = *opt_.input_shape;
    if (shape) v->setShape(*shape);
    first = false;
    Val val;
    val.value = v;
    val.name = input.name();
    vals_[input.name()] = val;
  }
}

void Importer::finish() {
  if (!unsupported_.empty()) {
    std::string msg = opt_.path + ": unsupported ONNX operators (EdgeOpt's IR has no equivalent): ";
    for (size_t i = 0; i < unsupported_.size(); ++i)
      msg += (i ? "; " : "") + unsupported_[i].first + " at " + unsupported_[i].second;
    throw InputError(msg);
  }
  std::vector<ir::Value*> outs;
  node_name_ = "output";
  module_type_.clear();
  scope_.clear();
  for (const auto& o : model_.graph().output()) {
    auto it = vals_.find(o.name());
    if (it == vals_.end()) throw InputError(opt_.path + ": graph output '" + o.name() + "' is never computed");
    if (!o.type().has_tensor_type())
      throw InputError(opt_.path + ": output '" + o.name() + "' is not a tensor");
    outs.push_back(irOf(it->second));
  }
  gm_->graph().output(outs);
  // The model's own input shapes (static ones only) serve summaries and exporters.
  std::vector<Shape> shapes;
  for (ir::Value* v : gm_->graph().inputs()) {
    if (!v->shape()) return;
    shapes.push_back(*v->shape());
  }
  gm_->setExampleInputShapes(std::move(shapes));
}

std::shared_ptr<GraphModule> Importer::run() {
  readModel();
  addInputs();
  for (const auto& node : model_.graph().node()) convert(node);
  finish();
  gm_->eval();
  try {
    gm_->lint();
  } catch (const std::exception& e) {
    throw InputError(opt_.path + ": the imported graph is invalid: " + e.what());
  }
  return gm_;
}

}  // namespace

std::shared_ptr<GraphModule> importOnnx(const ImportOptions& options) {
  Importer importer(options);
  try {
    return importer.run();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw InputError(options.path + ": cannot import the ONNX model (" + std::string(e.what()) + ")");
  }
}

}  // namespace edgeopt::onnx_import
