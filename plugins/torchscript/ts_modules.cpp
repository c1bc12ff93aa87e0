// The module hierarchy: submodule and attribute reads (prim::GetAttr),
// method and function calls that enter a module's frame, parameters and
// buffers under their state_dict names, and the scope of a module path.
#include "ts_import_internal.h"

#include <torch/csrc/jit/api/function_impl.h>

#include <cmath>

namespace edgeopt::torchscript::detail {

void Importer::getAttr(const jit::Node* n, Env& env) {
  const SVal& self = get(env, n->input(0));
  const std::string name = n->s(c10::attr::name);
  if (self.kind != SVal::Kind::Module) {
    if (self.isConst() && self.iv.isObject()) {
      auto obj = self.iv.toObject();
      auto slot = obj->type()->findAttributeSlot(name);
      if (slot) {
        env[n->output()] = SVal::constant(obj->getSlot(*slot));
        return;
      }
    }
    unsupported(n, "attribute '" + name + "' of a value that is not a module");
    return setAllDynamic(n, env);
  }
  const ModuleRef& m = *self.mod;
  if (name == "training") {
    ++training_reads_;
    env[n->output()] = SVal::constant(opt_.train);
    return;
  }
  auto type = m.obj->type();
  auto slot = type->findAttributeSlot(name);
  if (!slot) throw Abort{"module '" + m.path + "' has no attribute '" + name + "'"};
  c10::IValue v = m.obj->getSlot(*slot);
  const std::string path = join(m.path, name);
  if (v.isObject() && v.toObject()->type()->is_module()) {
    auto child = std::make_shared<ModuleRef>();
    child->obj = v.toObject();
    child->path = path;
    child->type = typeBaseName(child->obj->type());
    SVal s;
    s.kind = SVal::Kind::Module;
    s.mod = child;
    env[n->output()] = s;
    return;
  }
  if (v.isTensor() && gm_->hasTensor(path)) {
    env[n->output()] = SVal::tensor(paramCell(path));
    return;
  }
  env[n->output()] = SVal::constant(v);
}

void Importer::callMethod(const jit::Node* n, Env& env) {
  const SVal& self = get(env, n->input(0));
  const std::string name = n->s(c10::attr::name);
  if (self.kind != SVal::Kind::Module) {
    unsupported(n, "method '" + name + "' of a value that is not a module");
    return setAllDynamic(n, env);
  }
  std::shared_ptr<ModuleRef> m = self.mod;
  std::vector<SVal> args;
  for (const jit::Value* v : n->inputs()) args.push_back(get(env, v));

  const int saved = frame_;
  const bool enter = m->path != frames_[frame_].path;
  if (enter) {
    frames_.push_back({m->path, m->type, frame_});
    frame_ = static_cast<int>(frames_.size()) - 1;
  }
  struct Restore {
    int& f;
    int v;
    ~Restore() { f = v; }
  } restore{frame_, saved};

  if (m->type == "StochasticDepth" && name == "forward" && hasOp("stochastic_depth"))
    return stochasticDepth(*m, args, n, env);
  if (m->type == "MultiheadAttention" && name == "forward" && hasOp("select"))
    return multiheadAttention(*m, args, n, env);

  jit::Function* fn = m->obj->type()->findMethod(name);
  if (!fn) throw Abort{"module '" + m->path + "' (" + m->type + ") has no method '" + name + "'"};
  auto outs = callGraph(*jit::toGraphFunction(*fn).graph(), args);
  setOutputs(n, env, std::move(outs));
}

namespace {

// Whether `block` (or a block nested in it) reads a module's `training` flag.
bool readsTraining(const jit::Block* block) {
  for (const jit::Node* n : block->nodes()) {
    if (n->kind() == c10::prim::GetAttr && n->s(c10::attr::name) == "training") return true;
    for (const jit::Block* b : n->blocks())
      if (readsTraining(b)) return true;
  }
  return false;
}

}  // namespace

void Importer::callFunction(const jit::Node* n, Env& env) {
  auto ft = n->input(0)->type()->cast<c10::FunctionType>();
  if (!ft || !ft->function()) {
    unsupported(n, "call of an unknown function");
    return setAllDynamic(n, env);
  }
  std::vector<SVal> args;
  for (size_t i = 1; i < n->inputs().size(); ++i) args.push_back(get(env, n->input(i)));
  auto outs = callGraph(*jit::toGraphFunction(*ft->function()).graph(), args);
  setOutputs(n, env, std::move(outs));
}

// torchvision's StochasticDepth (drops whole samples, "row", or the whole
// batch with probability p in training) becomes the IR's stochastic_depth op
// in both modes (identity in eval), so the module survives a round trip; its
// forward would otherwise need random tensors shaped at run time.
void Importer::stochasticDepth(const ModuleRef& m, const std::vector<SVal>& args, const jit::Node* n, Env& env) {
  auto type = m.obj->type();
  auto p = type->findAttributeSlot("p") ? asDouble(SVal::constant(m.obj->getAttr("p"))) : std::nullopt;
  auto mode = type->findAttributeSlot("mode") ? m.obj->getAttr("mode") : c10::IValue();
  if (args.size() != 2 || !args[1].isTensor() || !p || !mode.isString()) {
    unsupported(n, "StochasticDepth without attributes p and mode");
    return setAllDynamic(n, env);
  }
  if (args[1].cell->poison) return setAllDynamic(n, env);
  if (*p == 0.0) {
    env[n->output()] = args[1];
    return;
  }
  training_ops_.push_back(m.path);
  // A scripted StochasticDepth reads self.training (its forward, which the
  // op replaces): the file keeps the flag, as a scripted BN's does. (Without
  // this a scripted model whose only mode-dependent layers are stochastic
  // depth, ConvNeXt's, looked traced.)
  if (jit::Function* fn = type->findMethod("forward"); fn && readsTraining(jit::toGraphFunction(*fn).graph()->block()))
    ++training_reads_;
  env[n->output()] =
      result(emit("stochastic_depth", {args[1].cell->value}, {{"p", *p}, {"mode", mode.toStringRef()}}));
}

// nn.MultiheadAttention as self-attention (query, key and value the same
// tensor; no masks, no attention weights returned, in_proj packed, no bias_k/v,
// no zero attention): its scripted forward branches on tensor identity and
// dtypes, so it becomes the ops of F.multi_head_attention_forward's math
// instead, with the sequence length from the input's known shape:
//   qkv = linear(x, in_proj) -> [N, L, 3, H, D] -> q, k, v [N, H, L, D]
//   y = softmax(q / sqrt(D) @ k^T) (dropout p when training) @ v
//   out_proj(y -> [N, L, E]); (out, None)
// (batch_first; otherwise x and out are transposed [L, N, E]).
void Importer::multiheadAttention(const ModuleRef& m, const std::vector<SVal>& args, const jit::Node* n, Env& env) {
  auto type = m.obj->type();
  auto attr = [&](const char* name) {  // an attribute, or a __constants__ entry (batch_first)
    if (type->findAttributeSlot(name)) return m.obj->getAttr(name);
    return type->hasConstant(name) ? type->getConstant(name) : c10::IValue();
  };
  auto reject = [&](const std::string& why) {
    unsupported(n, "MultiheadAttention " + why);
    setAllDynamic(n, env);
  };
  if (args.size() < 6 || !args[1].isTensor()) return reject("without a tensor query");
  if (args[1].cell->poison) return setAllDynamic(n, env);
  if (!args[2].isTensor() || !args[3].isTensor() || args[2].cell != args[1].cell || args[3].cell != args[1].cell)
    return reject("other than self-attention (query, key and value the same tensor)");
  auto need_weights = asBool(args[5]);
  if (!args[4].isNone() || (args.size() > 6 && !args[6].isNone()) || !need_weights || *need_weights)
    return reject("with masks or need_weights=True");
  const c10::IValue heads = attr("num_heads"), embed = attr("embed_dim"), batch_first = attr("batch_first"),
                    p = attr("dropout"), same_dim = attr("_qkv_same_embed_dim"), zero = attr("add_zero_attn");
  if (!heads.isInt() || !embed.isInt() || !batch_first.isBool() || !p.isDouble() || !same_dim.isBool() ||
      !same_dim.toBool() || (zero.isBool() && zero.toBool()) || !attr("bias_k").isNone() ||
      !attr("bias_v").isNone())
    return reject("with separate q/k/v projections, bias_k/bias_v or add_zero_attn");
  const std::string w_in = join(m.path, "in_proj_weight"), b_in = join(m.path, "in_proj_bias");
  const std::string w_out = join(m.path, "out_proj.weight"), b_out = join(m.path, "out_proj.bias");
  if (!gm_->hasTensor(w_in) || !gm_->hasTensor(w_out)) return reject("without in_proj_weight and out_proj");
  ir::Value* x = args[1].cell->value;
  const auto shape = x->shape();
  if (!shape || shape->size() != 3) return reject("needs the input's shape (set input_shape)");
  const int64_t H = heads.toInt(), E = embed.toInt(), D = E / H;
  const bool bf = batch_first.toBool();
  const int64_t L = bf ? (*shape)[1] : (*shape)[0];
  if (L < 0) return reject("needs a known sequence length (set input_shape)");
  if (!bf) x = emit("transpose", {x}, {{"dim0", int64_t{0}}, {"dim1", int64_t{1}}});
  std::vector<ir::Value*> in_proj = {x, paramCell(w_in)->value};
  if (gm_->hasTensor(b_in)) in_proj.push_back(paramCell(b_in)->value);
  ir::Value* qkv = emit("reshape", {emit("linear", in_proj)}, {{"shape", Ints{-1, L, 3, H, D}}});
  qkv = emit("permute", {qkv}, {{"dims", Ints{2, 0, 3, 1, 4}}});
  auto pick = [&](int64_t i) { return emit("select", {qkv}, {{"dim", int64_t{0}}, {"index", i}}); };
  ir::Value* q = emit("div", {pick(0)}, {{"other", std::sqrt(static_cast<double>(D))}});
  ir::Value* k = emit("transpose", {pick(1)}, {{"dim0", int64_t{-2}}, {"dim1", int64_t{-1}}});
  ir::Value* a = emit("softmax", {emit("matmul", {q, k})}, {{"dim", int64_t{-1}}});
  if (p.toDouble() > 0) {
    training_ops_.push_back(m.path);
    ++training_reads_;  // the scripted forward passes self.training on
    a = emit("dropout", {a}, {{"p", p.toDouble()}});
  }
  ir::Value* y = emit("transpose", {emit("matmul", {a, pick(2)})}, {{"dim0", int64_t{1}}, {"dim1", int64_t{2}}});
  std::vector<ir::Value*> out_proj = {emit("reshape", {y}, {{"shape", Ints{-1, L, E}}}), paramCell(w_out)->value};
  if (gm_->hasTensor(b_out)) out_proj.push_back(paramCell(b_out)->value);
  ir::Value* out = emit("linear", out_proj);
  if (!bf) out = emit("transpose", {out}, {{"dim0", int64_t{0}}, {"dim1", int64_t{1}}});
  env[n->output()] = SVal::sequence(SVal::Kind::Tuple, {result(out), SVal::constant(c10::IValue())});
}

// Parameters and buffers in state_dict order: a module's own parameters, then
// its buffers, then its submodules.
void Importer::registerTensors(const c10::intrusive_ptr<c10::ivalue::Object>& obj, const std::string& prefix) {
  auto type = obj->type();
  module_types_[prefix] = typeBaseName(type);
  const size_t n = type->numAttributes();
  for (size_t i = 0; i < n; ++i) {
    if (!type->is_parameter(i)) continue;
    c10::IValue v = obj->getSlot(i);
    std::string name = join(prefix, type->getAttributeName(i));
    if (v.isTensor() && !gm_->hasTensor(name)) gm_->registerParameter(name, v.toTensor(), v.toTensor().requires_grad());
  }
  for (size_t i = 0; i < n; ++i) {
    if (!type->is_buffer(i)) continue;
    c10::IValue v = obj->getSlot(i);
    std::string name = join(prefix, type->getAttributeName(i));
    if (v.isTensor() && !gm_->hasTensor(name)) gm_->registerBuffer(name, v.toTensor());
  }
  for (size_t i = 0; i < n; ++i) {
    c10::IValue v = obj->getSlot(i);
    if (v.isObject() && v.toObject()->type()->is_module())
      registerTensors(v.toObject(), join(prefix, type->getAttributeName(i)));
  }
}

ir::Scope Importer::scopeOf(const std::string& path) const {
  ir::Scope scope;
  if (path.empty()) return scope;
  size_t pos = 0;
  while (true) {
    size_t dot = path.find('.', pos);
    std::string prefix = path.substr(0, dot);
    auto it = module_types_.find(prefix);
    scope.push_back({prefix, it == module_types_.end() ? "" : it->second});
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return scope;
}

}  // namespace edgeopt::torchscript::detail
