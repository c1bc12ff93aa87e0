// Python values the model computes with while importing: lists and tuples
// (constant ones fold into IValues, ones holding tensors stay symbolic) and
// tensor metadata (x.dim(), x.size(d)), which is constant when shapes are
// known except for the batch size.
#include <algorithm>

#include "ts_import_internal.h"

namespace edgeopt::torchscript::detail {

// Lists, tuples, `is None` tests and size arithmetic; false if `n` is none of these.
bool Importer::evalContainerOp(const jit::Node* n, Env& env, const std::vector<SVal>& in) {
  const c10::Symbol kind = n->kind();
  if (kind == c10::prim::ListConstruct || kind == c10::prim::TupleConstruct) {
    bool all_const = true;
    for (auto& s : in) all_const = all_const && s.isConst();
    if (all_const && kind == c10::prim::TupleConstruct) {
      std::vector<c10::IValue> items;
      for (auto& s : in) items.push_back(s.iv);
      env[n->output()] = SVal::constant(c10::ivalue::Tuple::create(std::move(items)));
      return true;
    }
    if (all_const) {
      c10::impl::GenericList list(n->output()->type()->expectRef<c10::ListType>().getElementType());
      for (auto& s : in) list.push_back(s.iv);
      env[n->output()] = SVal::constant(c10::IValue(std::move(list)));
      return true;
    }
    env[n->output()] = SVal::sequence(kind == c10::prim::ListConstruct ? SVal::Kind::List : SVal::Kind::Tuple, in);
    return true;
  }
  if ((kind == c10::prim::ListUnpack || kind == c10::prim::TupleUnpack) &&
      (in[0].kind == SVal::Kind::List || in[0].kind == SVal::Kind::Tuple)) {
    if (in[0].elems->size() != n->outputs().size()) throw Abort{"internal: unpack size mismatch"};
    setOutputs(n, env, *in[0].elems);
    return true;
  }
  if ((kind == c10::prim::ListUnpack || kind == c10::prim::TupleUnpack) && in[0].isConst() &&
      (in[0].iv.isList() || in[0].iv.isTuple())) {
    std::vector<c10::IValue> items =
        in[0].iv.isList() ? in[0].iv.toListRef().vec() : in[0].iv.toTupleRef().elements().vec();
    if (items.size() != n->outputs().size()) {
      setAllDynamic(n, env);
      return true;
    }
    std::vector<SVal> outs;
    for (auto& iv : items) outs.push_back(SVal::constant(iv));
    setOutputs(n, env, std::move(outs));
    return true;
  }
  if (kind == c10::prim::TupleIndex && in[0].isConst() && in[0].iv.isTuple()) {
    auto i = asInt(in[1]);
    const auto& items = in[0].iv.toTupleRef().elements();
    int64_t size = static_cast<int64_t>(items.size());
    if (!i || *i < -size || *i >= size) {
      setAllDynamic(n, env);
      return true;
    }
    env[n->output()] = SVal::constant(items[*i < 0 ? *i + size : *i]);
    return true;
  }
  if (kind == c10::prim::TupleIndex && in[0].kind == SVal::Kind::Tuple) {
    auto i = asInt(in[1]);
    if (!i) {
      setAllDynamic(n, env);
      return true;
    }
    int64_t k = *i < 0 ? *i + static_cast<int64_t>(in[0].elems->size()) : *i;
    env[n->output()] = in[0].elems->at(k);
    return true;
  }
  if (kind == c10::prim::unchecked_cast) {
    env[n->output()] = in[0];
    return true;
  }
  if (kind == c10::prim::isinstance && !in[0].isConst()) {
    bool match = false;
    for (const auto& t : n->tys(c10::attr::types)) match = match || n->input(0)->type()->isSubtypeOf(*t);
    env[n->output()] = SVal::constant(match);
    return true;
  }
  if (kind == c10::aten::__is__ || kind == c10::aten::__isnot__) {
    bool is_op = kind == c10::aten::__is__;
    auto isObject = [](const SVal& s) { return s.kind == SVal::Kind::Tensor || s.kind == SVal::Kind::Module; };
    if ((isObject(in[0]) && in[1].isNone()) || (in[0].isNone() && isObject(in[1]))) {
      env[n->output()] = SVal::constant(!is_op);
      return true;
    }
  }
  if (kind == c10::aten::len && (in[0].kind == SVal::Kind::List || in[0].kind == SVal::Kind::Tuple)) {
    env[n->output()] = SVal::constant(static_cast<int64_t>(in[0].elems->size()));
    return true;
  }
  if (kind == c10::aten::__getitem__ && (in[0].kind == SVal::Kind::List || in[0].kind == SVal::Kind::Tuple)) {
    auto i = asInt(in[1]);
    if (!i) {
      setAllDynamic(n, env);
      return true;
    }
    int64_t size = static_cast<int64_t>(in[0].elems->size());
    int64_t k = *i < 0 ? *i + size : *i;
    if (k < 0 || k >= size) {
      setAllDynamic(n, env);
      return true;
    }
    env[n->output()] = in[0].elems->at(k);
    return true;
  }
  if (kind == c10::aten::__getitem__ && in[0].kind == SVal::Kind::Dynamic && in[0].size_dim == -1) {
    SVal d = SVal::dynamic();
    if (auto i = asInt(in[1])) {
      d.size_of = in[0].size_of;
      d.size_dim = *i;
    }
    env[n->output()] = d;
    return true;
  }
  // list[a:b:c] on a list with run-time elements (H, W, _ = x.shape[-3:]).
  if (kind == c10::aten::slice && in.size() == 4 && in[0].kind == SVal::Kind::List) {
    const int64_t size = static_cast<int64_t>(in[0].elems->size());
    auto bound = [&](const SVal& s, int64_t fallback) -> std::optional<int64_t> {
      if (s.isNone()) return fallback;
      auto v = asInt(s);
      if (v && *v < 0) *v += size;
      if (v) *v = std::clamp<int64_t>(*v, 0, size);
      return v;
    };
    auto start = bound(in[1], 0), end = bound(in[2], size);
    auto step = asInt(in[3]);
    if (!start || !end || !step || *step <= 0) {
      setAllDynamic(n, env);
      return true;
    }
    std::vector<SVal> items;
    for (int64_t i = *start; i < *end; i += *step) items.push_back(in[0].elems->at(static_cast<size_t>(i)));
    env[n->output()] = SVal::sequence(SVal::Kind::List, std::move(items));
    return true;
  }
  if (kind == c10::aten::append && in[0].kind == SVal::Kind::List) {
    in[0].elems->push_back(in[1]);
    env[n->output()] = in[0];
    return true;
  }
  // Traced graphs carry sizes through tensors: size -> NumToTensor -> Int.
  if ((kind == c10::prim::NumToTensor || kind == c10::aten::Int || kind == c10::aten::ScalarImplicit) &&
      in.size() == 1 && in[0].kind == SVal::Kind::Dynamic) {
    env[n->output()] = in[0];
    return true;
  }
  return false;
}

// Tensor metadata: known only at run time (ranks when shapes are known); false
// if `n` does not read the metadata of its tensor input.
namespace {

// Whether `v` is computed from a model input (else only from parameters and constants).
bool dependsOnInput(const ir::Value* v) {
  std::vector<const ir::Node*> todo{v->producer()};
  std::unordered_set<const ir::Node*> seen;
  while (!todo.empty()) {
    const ir::Node* n = todo.back();
    todo.pop_back();
    if (!seen.insert(n).second) continue;
    if (n->opcode() == ir::Opcode::Input) return true;
    for (const ir::Value* in : n->inputs()) todo.push_back(in->producer());
  }
  return false;
}

}  // namespace

bool Importer::evalTensorMetadata(const jit::Node* n, Env& env, const std::vector<SVal>& in) {
  const c10::Symbol kind = n->kind();
  if (in.size() >= 1 && in[0].isTensor()) {
    const std::string k = kind.toQualString();
    if (k == "aten::dim") {
      const auto& shape = in[0].cell->value ? in[0].cell->value->shape() : std::nullopt;
      env[n->output()] = shape ? SVal::constant(static_cast<int64_t>(shape->size())) : SVal::dynamic();
      return true;
    }
    if (k == "aten::size") {
      // The batch size is a run-time value (with its origin, for x.view(x.size(0), ...));
      // the other sizes are constants when the shape is known (input_shape given).
      const auto& shape = in[0].cell->value ? in[0].cell->value->shape() : std::nullopt;
      auto sizeAt = [&](int64_t d) {
        if (shape && d > 0) return SVal::constant((*shape)[d]);
        SVal v = SVal::dynamic();
        v.size_of = in[0].cell;
        v.size_dim = d;
        return v;
      };
      if (in.size() > 1) {
        auto i = asInt(in[1]);
        if (!i) {
          setAllDynamic(n, env);
          return true;
        }
        int64_t d = *i;
        if (shape && d < 0) d += static_cast<int64_t>(shape->size());
        env[n->output()] = sizeAt(d);
        return true;
      }
      if (shape) {
        std::vector<SVal> items;
        for (int64_t d = 0; d < static_cast<int64_t>(shape->size()); ++d) items.push_back(sizeAt(d));
        env[n->output()] = SVal::sequence(SVal::Kind::List, std::move(items));
        return true;
      }
      SVal d = SVal::dynamic();
      d.size_of = in[0].cell;
      d.size_dim = -1;
      env[n->output()] = d;
      return true;
    }
    if (k == "aten::numel" && in[0].cell->value && in[0].cell->value->shape() && !dependsOnInput(in[0].cell->value)) {
      // A parameter's (or its clone's) size: constant, unlike anything with a batch dim.
      int64_t count = 1;
      for (int64_t d : *in[0].cell->value->shape()) count *= d;
      env[n->output()] = SVal::constant(count);
      return true;
    }
    if (k == "prim::dtype" || k == "prim::device" || k == "prim::layout" || k == "prim::requires_grad" ||
        k == "aten::numel" || k == "aten::Int" || k == "aten::Float" || k == "aten::Bool" ||
        k == "prim::is_cuda" || k == "aten::is_floating_point" || k == "aten::item" || k == "aten::__len__" ||
        k == "aten::len" || k == "prim::shape") {
      setAllDynamic(n, env);
      return true;
    }
  }
  return false;
}

}  // namespace edgeopt::torchscript::detail
