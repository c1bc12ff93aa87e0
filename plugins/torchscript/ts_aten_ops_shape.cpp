// Shape and tensor ops: cat, flatten, view/reshape (x.view(x.size(0), ...)
// keeps the batch size free), no-op copies, transpose/permute, chunk/split,
// select, expand, slice, the padding family, and full_like/zeros_like/ones_like.
#include "ts_aten_ops.h"

#include <algorithm>
#include <limits>

namespace edgeopt::torchscript::detail {
namespace {

// cat(tensors, dim) and its alias concat.
void cat(OpContext& c) {
  const auto& in = c.in;
  auto dim = asInt(in[1]);
  if (!dim) return c.fail("dim must be a constant");
  if (in[0].kind != SVal::Kind::List) return c.fail("the tensors must be a list");
  std::vector<ir::Value*> ins;
  for (auto& e : *in[0].elems) {
    ir::Value* v = c.valueOf(e);
    if (!v) return c.fail("every element must be a tensor");
    ins.push_back(v);
  }
  return c.done(c.emit("cat", ins, {{"dim", *dim}}));
}

void flatten(OpContext& c) {
  auto start = c.in.size() > 1 ? asInt(c.in[1]) : std::optional<int64_t>(0);
  auto end = c.in.size() > 2 ? asInt(c.in[2]) : std::optional<int64_t>(-1);
  if (!start || !end) return c.fail("start_dim and end_dim must be constants");
  return c.unary("flatten", {{"start_dim", *start}, {"end_dim", *end}});
}

// view(x, shape) and reshape(x, shape).
void reshape(OpContext& c) {
  const auto& in = c.in;
  if (auto shape = asInts(in[1])) return c.unary("reshape", {{"shape", *shape}});
  // x.view(x.size(0), ...): the batch size stays free. (-1) flattens from
  // dim 1; other sizes must be constants (give input_shape when the model
  // computes them from x.size()).
  if (in[1].kind == SVal::Kind::List && !in[1].elems->empty() && in[0].isTensor()) {
    const SVal& d0 = (*in[1].elems)[0];
    Ints shape{-1};
    bool ok = d0.kind == SVal::Kind::Dynamic && d0.size_of && d0.size_dim == 0;
    if (ok && d0.size_of != in[0].cell) {
      // The batch of another tensor: the same batch if both shapes agree on it.
      const auto& a = in[0].cell->value->shape();
      const auto& b = d0.size_of->value ? d0.size_of->value->shape() : std::nullopt;
      ok = a && b && !a->empty() && !b->empty() && (*a)[0] == (*b)[0];
    }
    int64_t infer = -1, known = 1;
    for (size_t i = 1; ok && i < in[1].elems->size(); ++i) {
      auto d = asInt((*in[1].elems)[i]);
      ok = d.has_value() && (*d != -1 || infer < 0);
      if (!ok) break;
      if (*d == -1) infer = static_cast<int64_t>(i);
      else known *= *d;
      shape.push_back(*d);
    }
    if (ok && infer > 0) {  // a second -1: resolved from the known input shape
      const auto& a = in[0].cell->value->shape();
      int64_t rest = 1;
      if (a)
        for (size_t i = 1; i < a->size(); ++i) rest *= (*a)[i];
      ok = a && !a->empty() && known > 0 && rest % known == 0;
      if (ok) shape[infer] = rest / known;
    }
    if (ok && shape.size() == 1) return c.unary("reshape", {{"shape", Ints{-1}}});
    if (ok) return c.unary("reshape", {{"shape", shape}});
    auto d1 = in[1].elems->size() == 2 ? asInt((*in[1].elems)[1]) : std::nullopt;
    if (d0.kind == SVal::Kind::Dynamic && d0.size_of == in[0].cell && d0.size_dim == 0 && d1 && *d1 == -1)
      return c.unary("flatten", {{"start_dim", int64_t{1}}, {"end_dim", int64_t{-1}}});
  }
  // One size known only at run time (B * num_windows), the others constants:
  // the element count fixes it, so it is reshape's -1.
  if (in[1].kind == SVal::Kind::List && in[0].isTensor()) {
    Ints shape;
    int run_time = 0;
    bool ok = true;
    for (const SVal& e : *in[1].elems) {
      if (auto d = asInt(e)) {
        ok = ok && *d != -1;
        shape.push_back(*d);
      } else {
        ok = ok && e.kind == SVal::Kind::Dynamic && !e.tainted;
        ++run_time;
        shape.push_back(-1);
      }
    }
    if (ok && run_time == 1) return c.unary("reshape", {{"shape", shape}});
  }
  return c.fail(
      "a shape computed at run time (one run-time size among constants is recognised; other sizes need "
      "input_shape)");
}

// contiguous() and clone(): values are immutable in the IR, so no copy is
// needed; a clone is a tensor of its own, which in-place ops may change
// (a clone of a parameter is no longer the parameter).
void sameValue(OpContext& c) {
  if (!c.in[0].isTensor()) return c.fail("input is not a tensor");
  c.setResult(c.base == "clone" ? c.result(c.in[0].cell->value) : c.in[0]);
}

void transpose(OpContext& c) {
  if (!c.hasOp("transpose")) return c.fail("");
  auto d0 = asInt(c.in[1]), d1 = asInt(c.in[2]);
  if (!d0 || !d1) return c.fail("dims must be constants");
  return c.unary("transpose", {{"dim0", *d0}, {"dim1", *d1}});
}

void permute(OpContext& c) {
  if (!c.hasOp("permute")) return c.fail("");
  auto dims = asInts(c.in[1]);
  if (!dims) return c.fail("dims must be constants");
  return c.unary("permute", {{"dims", *dims}});
}

// select(x, dim, index): x[:, i] and friends.
void select(OpContext& c) {
  if (!c.hasOp("select")) return c.fail("");
  auto dim = asInt(c.in[1]), index = asInt(c.in[2]);
  if (!dim || !index) return c.fail("dim and index must be constants");
  return c.unary("select", {{"dim", *dim}, {"index", *index}});
}

// expand(x, sizes): constant sizes, or sizes read from one other tensor at
// run time (cls_token.expand(x.size(0), -1, -1): the batch stays free).
void expand(OpContext& c) {
  if (!c.hasOp("expand")) return c.fail("");
  if (auto sizes = asInts(c.in[1])) return c.unary("expand", {{"sizes", *sizes}});
  if (c.in[1].kind != SVal::Kind::List || !c.in[0].isTensor()) return c.fail("sizes must be a list");
  Ints sizes, ref_dims;
  CellPtr ref;
  for (const SVal& s : *c.in[1].elems) {
    if (auto d = asInt(s)) {
      sizes.push_back(*d);
      ref_dims.push_back(-1);
      continue;
    }
    if (s.kind != SVal::Kind::Dynamic || !s.size_of || s.size_dim < 0 || (ref && ref != s.size_of))
      return c.fail("sizes other than constants and x.size(d) of one tensor");
    ref = s.size_of;
    sizes.push_back(-1);
    ref_dims.push_back(s.size_dim);
  }
  if (!ref || !ref->value) return c.fail("sizes other than constants and x.size(d) of one tensor");
  return c.done(c.emit("expand", {c.tensorAt(0), ref->value}, {{"sizes", sizes}, {"ref_dims", ref_dims}}));
}

// x.expand_as(other): every size read from `other` at run time.
void expandAs(OpContext& c) {
  if (!c.hasOp("expand")) return c.fail("");
  ir::Value* x = c.tensorAt(0);
  ir::Value* ref = c.tensorAt(1);
  if (!x || !ref || !ref->shape()) return c.fail("expand_as needs two tensors, the second of known rank");
  const int64_t rank = static_cast<int64_t>(ref->shape()->size());
  Ints sizes(static_cast<size_t>(rank), -1), ref_dims;
  for (int64_t d = 0; d < rank; ++d) ref_dims.push_back(d);
  return c.done(c.emit("expand", {x, ref}, {{"sizes", sizes}, {"ref_dims", ref_dims}}));
}

// chunk(x, chunks, dim) and split(x, split_size or split_sizes, dim), unsafe_ spellings included.
void chunkOrSplit(OpContext& c) {
  const auto& in = c.in;
  const bool is_chunk = c.base.find("chunk") != std::string::npos;
  if (!c.hasOp(is_chunk ? "chunk" : "split")) return c.fail("");
  ir::Value* x = c.tensorAt(0);
  auto dim = asInt(in[2]);
  if (!x || !dim) return c.fail("input must be a tensor and dim a constant");
  Attrs attrs{{"dim", *dim}};
  size_t pieces = 0;
  std::string op = "split";
  if (is_chunk) {
    auto chunks = asInt(in[1]);
    if (!chunks || *chunks <= 0) return c.fail("chunks must be a positive constant");
    op = "chunk";
    attrs.insert_or_assign("chunks", *chunks);
    pieces = static_cast<size_t>(*chunks);
    if (x->shape()) {  // torch.chunk may return fewer pieces
      const ir::Shape& sh = *x->shape();
      int64_t d = *dim < 0 ? *dim + static_cast<int64_t>(sh.size()) : *dim;
      int64_t size = sh.at(d), piece = (size + *chunks - 1) / *chunks;
      if (size > 0) pieces = static_cast<size_t>((size + piece - 1) / piece);
    }
  } else if (auto sizes = in[1].isConst() && in[1].iv.isIntList() ? asInts(in[1]) : std::nullopt) {
    attrs.insert_or_assign("split_sizes", *sizes);
    pieces = sizes->size();
  } else if (auto size = asInt(in[1])) {
    if (!x->shape()) return c.fail("split by size needs a known input shape (set input_shape)");
    const ir::Shape& sh = *x->shape();
    int64_t d = *dim < 0 ? *dim + static_cast<int64_t>(sh.size()) : *dim;
    if (*size <= 0) return c.fail("split_size must be positive");
    attrs.insert_or_assign("split_size", *size);
    pieces = static_cast<size_t>(std::max<int64_t>(1, (sh.at(d) + *size - 1) / *size));
  } else {
    return c.fail("split sizes must be constants");
  }
  ir::Node* node = c.emitNode(op, {x}, attrs, pieces);
  std::vector<SVal> items;
  for (size_t i = 0; i < pieces; ++i) items.push_back(c.result(node->output(i)));
  c.setResult(SVal::sequence(SVal::Kind::List, std::move(items)));
}

// slice(x, dim, start, end, step); None bounds are the whole dim.
void slice(OpContext& c) {
  if (!c.hasOp("slice")) return c.fail("");
  const auto& in = c.in;
  auto dim = asInt(in[1]);
  auto start = in[2].isNone() ? std::optional<int64_t>(0) : asInt(in[2]);
  auto end = in[3].isNone() ? std::optional<int64_t>(std::numeric_limits<int64_t>::max()) : asInt(in[3]);
  auto step = asInt(in[4]);
  if (!dim || !start || !end || !step) return c.fail("slice bounds must be constants");
  const Attrs attrs{{"dim", *dim}, {"start", *start}, {"end", *end}, {"step", *step}};
  ir::Value* x = c.tensorAt(0);
  if (!x) return c.fail("input is not a tensor");
  // The slice remembers what it views: an in-place op on it writes through.
  SVal s = c.result(c.emit("slice", {x}, attrs));
  s.cell->view_of = c.in[0].cell;
  s.cell->view_slice = attrs;
  c.setResult(std::move(s));
}

// F.pad(x, pad, mode, value) and the per-mode ops it lowers to
// (constant_pad_nd, reflection_pad*, replication_pad*).
void padding(OpContext& c) {
  if (!c.hasOp("pad")) return c.fail("");
  const auto& in = c.in;
  const std::string& base = c.base;
  auto pad = asInts(in[1]);
  if (!pad) return c.fail("pad must be a constant");
  Attrs attrs{{"pad", *pad}};
  std::string mode = base == "constant_pad_nd" ? "constant"
                     : base.rfind("reflection", 0) == 0 ? "reflect"
                     : base.rfind("replication", 0) == 0 ? "replicate"
                                                         : "";
  if (base == "pad") {
    auto m = asString(in[2]);
    if (!m) return c.fail("mode must be a constant");
    mode = *m;
  }
  attrs.insert_or_assign("mode", mode);
  size_t vi = base == "pad" ? 3 : 2;
  if (mode == "constant" && in.size() > vi && !in[vi].isNone()) {
    auto value = asDouble(in[vi]);
    if (!value) return c.fail("value must be a constant");
    attrs.insert_or_assign("value", *value);
  }
  return c.unary("pad", std::move(attrs));
}

// full_like(x, value, dtype, ...), zeros_like(x, dtype, ...), ones_like(x, dtype, ...).
void fullLike(OpContext& c) {
  if (!c.hasOp("full_like")) return c.fail("");
  const std::string& base = c.base;
  std::optional<double> value = base == "zeros_like" ? 0.0 : base == "ones_like" ? 1.0 : asDouble(c.in[1]);
  if (!value) return c.fail("value must be a constant");
  size_t dtype_at = base == "full_like" ? 2 : 1;
  Attrs attrs{{"value", *value}};
  if (c.in.size() > dtype_at && !c.in[dtype_at].isNone()) {
    auto dtype = asInt(c.in[dtype_at]);
    if (!dtype) return c.fail("dtype must be a constant");
    attrs.insert_or_assign("dtype", *dtype);
  }
  return c.unary("full_like", std::move(attrs));
}

}  // namespace

void addShapeOps(AtenOpTable& table) {
  table.add("cat", cat);
  table.add("concat", cat);
  table.add("flatten", flatten);
  table.add("view", reshape);
  table.add("reshape", reshape);
  table.add("contiguous", sameValue);
  table.add("clone", sameValue);
  table.add("transpose", transpose);
  table.add("permute", permute);
  table.add("select", select);
  table.add("expand", expand);
  table.add("expand_as", expandAs);
  for (const char* name :
       {"chunk", "unsafe_chunk", "split", "unsafe_split", "split_with_sizes", "unsafe_split_with_sizes"})
    table.add(name, chunkOrSplit);
  table.add("slice", slice);
  for (const char* name :
       {"pad", "constant_pad_nd", "reflection_pad2d", "replication_pad2d", "reflection_pad1d", "replication_pad1d"})
    table.add(name, padding);
  for (const char* name : {"full_like", "zeros_like", "ones_like"}) table.add(name, fullLike);
}

}  // namespace edgeopt::torchscript::detail
