// Tensor manipulation with PyTorch's semantics:
//   split(x)     attrs dim (0) and split_size (int: equal pieces, the last may
//                be smaller, torch.split) or split_sizes (ints); one output per piece
//   chunk(x)     attrs chunks, dim (0); torch.chunk: pieces of ceil(size/chunks),
//                so there may be fewer than `chunks` outputs
//   slice(x)     attrs dim (0), start (0), end (INT64_MAX), step (1): x[start:end:step]
//   permute(x)   attr dims
//   transpose(x) attrs dim0, dim1
//   pad(x)       attrs pad (F.pad order: last dim first), mode (constant |
//                reflect | replicate | circular), value (0.0, constant only)
//   matmul(a, b) torch.matmul with broadcasting; MACs = output elements x K
//   full_like(x) attr value (dtype optional): a tensor shaped like x filled with value
// Multi-output nodes (split, chunk) must be created with as many outputs as
// pieces; the shape function says so by name if they disagree.
#include "ops_common.h"

#include <algorithm>
#include <limits>

namespace edgeopt::ir::ops {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

// `size` cut into pieces of `piece` elements, the last one smaller (at least one piece).
Ints equalPieces(int64_t size, int64_t piece) {
  Ints sizes;
  for (int64_t at = 0; at < size; at += piece) sizes.push_back(std::min(piece, size - at));
  if (sizes.empty()) sizes.push_back(0);
  return sizes;
}

// Piece sizes of split/chunk along a dim of `size` elements, as ATen cuts them.
Ints splitSizes(const Node& n, int64_t size) {
  if (n.target() == "chunk") {
    int64_t chunks = n.get<int64_t>("chunks");
    check(n, chunks > 0, "chunks must be positive, got " + str(chunks));
    if (size == 0) return Ints(chunks, 0);
    return equalPieces(size, (size + chunks - 1) / chunks);
  }
  if (n.hasAttr("split_sizes")) {
    Ints sizes = n.get<Ints>("split_sizes");
    int64_t total = 0;
    for (int64_t s : sizes) {
      check(n, s >= 0, "split_sizes must not be negative");
      total += s;
    }
    check(n, total == size, "split_sizes add up to " + str(total) + " but the dim has " + str(size));
    return sizes;
  }
  check(n, n.hasAttr("split_size"), "needs attribute 'split_size' (int) or 'split_sizes' (ints)");
  int64_t piece = n.get<int64_t>("split_size");
  check(n, piece > 0, "split_size must be positive, got " + str(piece));
  return equalPieces(size, piece);
}

std::vector<Shape> splitShape(const Node& n, const std::vector<Shape>& in) {
  const Shape& x = in[0];
  check(n, !x.empty(), "cannot split a scalar");
  int64_t dim = normalizeDim(n, n.getOr<int64_t>("dim", 0), x.size());
  Ints sizes = splitSizes(n, x[dim]);
  check(n, sizes.size() == n.numOutputs(),
        "splits " + formatShape(x) + " into " + str(static_cast<int64_t>(sizes.size())) + " pieces along dim " +
            str(dim) + " but the node has " + str(static_cast<int64_t>(n.numOutputs())) + " outputs");
  std::vector<Shape> out;
  for (int64_t s : sizes) {
    Shape piece = x;
    piece[dim] = s;
    out.push_back(piece);
  }
  return out;
}

Tensors splitKernel(const Node& n, const Tensors& in, const ExecContext&) {
  int64_t dim = n.getOr<int64_t>("dim", 0);
  if (n.target() == "chunk") return at::chunk(in[0], n.get<int64_t>("chunks"), dim);
  if (n.hasAttr("split_sizes")) return at::split_with_sizes(in[0], n.get<Ints>("split_sizes"), dim);
  return at::split(in[0], n.get<int64_t>("split_size"), dim);
}

struct SliceArgs {
  int64_t dim, start, end, step;
};

// ATen's slice clamping: negative bounds count from the end, then clamp.
SliceArgs sliceArgs(const Node& n, const Shape& x) {
  check(n, !x.empty(), "cannot slice a scalar");
  SliceArgs a{normalizeDim(n, n.getOr<int64_t>("dim", 0), x.size()), n.getOr<int64_t>("start", 0),
              n.getOr<int64_t>("end", std::numeric_limits<int64_t>::max()), n.getOr<int64_t>("step", 1)};
  check(n, a.step > 0, "step must be positive, got " + str(a.step));
  int64_t size = x[a.dim];
  if (a.start < 0) a.start += size;
  if (a.end < 0) a.end += size;
  a.start = std::clamp<int64_t>(a.start, 0, size);
  a.end = std::clamp<int64_t>(a.end, a.start, size);
  return a;
}

std::vector<Shape> sliceShape(const Node& n, const std::vector<Shape>& in) {
  SliceArgs a = sliceArgs(n, in[0]);
  Shape out = in[0];
  out[a.dim] = (a.end - a.start + a.step - 1) / a.step;
  return {out};
}

Tensors sliceKernel(const Node& n, const Tensors& in, const ExecContext&) {
  return {at::slice(in[0], n.getOr<int64_t>("dim", 0), n.getOr<int64_t>("start", 0),
                    n.getOr<int64_t>("end", std::numeric_limits<int64_t>::max()), n.getOr<int64_t>("step", 1))};
}

// x.select(dim, index): the slice at `index` along `dim`, without that dim
// (torch.select, x[:, 0]; ONNX Gather with a scalar index).
std::vector<Shape> selectShape(const Node& n, const std::vector<Shape>& in) {
  Shape out = in[0];
  check(n, !out.empty(), "needs a tensor of rank 1 or more");
  const int64_t d = normalizeDim(n, n.get<int64_t>("dim"), out.size());
  const int64_t size = out[d], i = n.get<int64_t>("index");
  check(n, size < 0 || (i >= -size && i < size), "index " + str(i) + " is out of range for size " + str(size));
  out.erase(out.begin() + d);
  return {out};
}

void selectOnnx(OnnxEmitContext& ctx) {
  const int64_t dim = normalizeDim(ctx.node, ctx.node.get<int64_t>("dim"), ctx.inputRank(0));
  const std::string picked = ctx.temp("gather");
  ctx.add("Gather", {ctx.inputs[0], ctx.ints("index", {ctx.node.get<int64_t>("index")})}, {picked}).attr("axis", dim);
  ctx.add("Squeeze", {picked, ctx.ints("axes", {dim})}, {ctx.outputs[0]});
}

// x.expand(sizes): -1 keeps x's size (x aligned to the right, as in torch).
// With a second input `ref`, attribute ref_dims (one per size) takes size i
// from ref at run time where ref_dims[i] >= 0: cls_token.expand(x.size(0), -1,
// -1) keeps the batch free.
Ints expandSizes(const Node& n, const Shape& x, const Shape* ref) {
  Ints sizes = n.get<Ints>("sizes");
  check(n, sizes.size() >= x.size(), "sizes " + formatShape(sizes) + " have fewer dims than the input's " +
                                         formatShape(x));
  if (ref) {
    const Ints dims = n.get<Ints>("ref_dims");
    check(n, dims.size() == sizes.size(), "ref_dims " + formatShape(dims) + " do not match sizes " + formatShape(sizes));
    for (size_t i = 0; i < sizes.size(); ++i)
      if (dims[i] >= 0) sizes[i] = (*ref)[normalizeDim(n, dims[i], ref->size())];
  }
  const size_t offset = sizes.size() - x.size();
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] != -1) continue;
    check(n, i >= offset, "size -1 for a new leading dim");
    sizes[i] = x[i - offset];
  }
  return sizes;
}

std::vector<Shape> expandShape(const Node& n, const std::vector<Shape>& in) {
  return {expandSizes(n, in[0], in.size() == 2 ? &in[1] : nullptr)};
}

Tensors expandKernel(const Node& n, const Tensors& in, const ExecContext&) {
  const Shape x = in[0].sizes().vec();
  const Shape ref = in.size() == 2 ? in[1].sizes().vec() : Shape{};
  return {in[0].expand(expandSizes(n, x, in.size() == 2 ? &ref : nullptr))};
}

// ONNX Expand broadcasts: a 1 keeps the input's size. Sizes from `ref` are
// gathered from Shape(ref) at run time.
void expandOnnx(OnnxEmitContext& ctx) {
  Ints sizes = ctx.node.get<Ints>("sizes");
  for (int64_t& s : sizes)
    if (s == -1) s = 1;
  if (ctx.inputs.size() == 1) {
    ctx.add("Expand", {ctx.inputs[0], ctx.ints("shape", sizes)}, {ctx.outputs[0]});
    return;
  }
  const Ints dims = ctx.node.get<Ints>("ref_dims");
  const std::string ref_shape = ctx.temp("ref_shape");
  ctx.add("Shape", {ctx.inputs[1]}, {ref_shape});
  std::vector<std::string> pieces;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const std::string tag = "size" + std::to_string(i);
    if (dims[i] < 0) {
      pieces.push_back(ctx.ints(tag, {sizes[i]}));
      continue;
    }
    pieces.push_back(ctx.temp(tag));
    ctx.add("Gather", {ref_shape, ctx.ints(tag + "_dim", {dims[i]})}, {pieces.back()}).attr("axis", int64_t{0});
  }
  const std::string shape = ctx.temp("shape");
  ctx.add("Concat", pieces, {shape}).attr("axis", int64_t{0});
  ctx.add("Expand", {ctx.inputs[0], shape}, {ctx.outputs[0]});
}

std::string expandScript(ScriptEmitContext& ctx) {
  const Ints sizes = ctx.node.get<Ints>("sizes");
  const Ints dims = ctx.inputs.size() == 2 ? ctx.node.get<Ints>("ref_dims") : Ints(sizes.size(), -1);
  std::string list = "[";
  for (size_t i = 0; i < sizes.size(); ++i)
    list += (i ? ", " : "") + (dims[i] >= 0 ? ctx.inputs[1] + ".size(" + std::to_string(dims[i]) + ")"
                                            : std::to_string(sizes[i]));
  return ctx.inputs[0] + ".expand(" + list + "])";
}

std::vector<Shape> permuteShape(const Node& n, const std::vector<Shape>& in) {
  const Shape& x = in[0];
  Ints dims = n.get<Ints>("dims");
  check(n, dims.size() == x.size(), "dims " + formatShape(dims) + " do not match rank " + str(x.size()));
  std::vector<bool> seen(x.size(), false);
  Shape out;
  for (int64_t d : dims) {
    int64_t k = normalizeDim(n, d, x.size());
    check(n, !seen[k], "dims " + formatShape(dims) + " repeat dim " + str(k));
    seen[k] = true;
    out.push_back(x[k]);
  }
  return {out};
}

std::vector<Shape> transposeShape(const Node& n, const std::vector<Shape>& in) {
  Shape out = in[0];
  int64_t a = normalizeDim(n, n.get<int64_t>("dim0"), out.size());
  int64_t b = normalizeDim(n, n.get<int64_t>("dim1"), out.size());
  std::swap(out[a], out[b]);
  return {out};
}

const char* const kPadModes[] = {"constant", "reflect", "replicate", "circular"};

std::vector<Shape> padShape(const Node& n, const std::vector<Shape>& in) {
  const Shape& x = in[0];
  Ints pad = n.get<Ints>("pad");
  std::string mode = n.getOr<std::string>("mode", "constant");
  check(n, std::find(std::begin(kPadModes), std::end(kPadModes), mode) != std::end(kPadModes),
        "mode '" + mode + "' is not one of constant, reflect, replicate, circular");
  check(n, mode == "constant" || !n.hasAttr("value"), "mode '" + mode + "' takes no 'value'");
  check(n, pad.size() % 2 == 0 && pad.size() <= 2 * x.size(),
        "pad " + formatShape(pad) + " needs an even number of values, at most 2 per dim of " + formatShape(x));
  size_t dims = pad.size() / 2;
  // ATen's reflection/replication/circular kernels: 1-3 padded dims, plus
  // channel (and batch) dims.
  check(n, mode == "constant" || (dims >= 1 && dims <= 3 && (x.size() == dims + 1 || x.size() == dims + 2)),
        "mode '" + mode + "' pads the last 1-3 dims of an input with 1 or 2 more dims; pad " + formatShape(pad) +
            " does not fit " + formatShape(x));
  Shape out = x;
  for (size_t i = 0; i < dims; ++i) {
    size_t d = x.size() - 1 - i;
    if (mode == "reflect")
      check(n, pad[2 * i] < x[d] && pad[2 * i + 1] < x[d],
            "reflect padding must be smaller than the padded dim " + str(d) + " (" + str(x[d]) + ")");
    out[d] += pad[2 * i] + pad[2 * i + 1];
    check(n, out[d] >= 0, "pad " + formatShape(pad) + " leaves dim " + str(d) + " negative");
  }
  return {out};
}

Tensors padKernel(const Node& n, const Tensors& in, const ExecContext&) {
  std::string mode = n.getOr<std::string>("mode", "constant");
  c10::optional<double> value;
  if (mode == "constant") value = n.getOr<double>("value", 0.0);
  return {at::pad(in[0], n.get<Ints>("pad"), mode, value)};
}

// torch.matmul: 1-D operands get a dim added (and removed from the result),
// the batch dims of N-D operands broadcast.
std::vector<Shape> matmulShape(const Node& n, const std::vector<Shape>& in) {
  Shape a = in[0], b = in[1];
  check(n, !a.empty() && !b.empty(), "matmul needs at least 1-D operands");
  bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  int64_t k = a.back();
  check(n, k == b[b.size() - 2],
        "shapes " + formatShape(in[0]) + " and " + formatShape(in[1]) + " cannot be multiplied");
  Shape batch_a(a.begin(), a.end() - 2), batch_b(b.begin(), b.end() - 2);
  Shape out = batch_a.empty() || batch_b.empty() ? (batch_a.empty() ? batch_b : batch_a)
                                                 : broadcastShapes(n, {batch_a, batch_b})[0];
  if (!a_vec) out.push_back(a[a.size() - 2]);
  if (!b_vec) out.push_back(b.back());
  return {out};
}

int64_t matmulMacs(const Node&, const std::vector<Shape>& in, const std::vector<Shape>& out) {
  return numel(out[0]) * in[0].back();
}

// Export. Emitters that need ranks or sizes read the propagated shapes.
Shape knownInputShape(OnnxEmitContext& ctx) {
  auto s = ctx.inputShape(0);
  if (!s) ctx.fail("needs the input shape (shape propagation gave none)");
  return *s;
}

void splitOnnx(OnnxEmitContext& ctx) {
  Shape x = knownInputShape(ctx);
  int64_t dim = normalizeDim(ctx.node, ctx.node.getOr<int64_t>("dim", 0), x.size());
  ctx.add("Split", {ctx.inputs[0], ctx.ints("split", splitSizes(ctx.node, x[dim]))}, ctx.outputs).attr("axis", dim);
}

std::string splitScript(ScriptEmitContext& ctx) {
  const Node& n = ctx.node;
  std::string dim = script::integer(n.getOr<int64_t>("dim", 0));
  if (n.target() == "chunk")
    return ctx.call("torch.chunk", {ctx.inputs[0], script::integer(n.get<int64_t>("chunks")), dim});
  if (n.hasAttr("split_sizes"))
    return ctx.call("torch.split_with_sizes", {ctx.inputs[0], script::ints(n.get<Ints>("split_sizes")), dim});
  return ctx.call("torch.split", {ctx.inputs[0], script::integer(n.get<int64_t>("split_size")), dim});
}

void sliceOnnx(OnnxEmitContext& ctx) {
  const Node& n = ctx.node;
  ctx.add("Slice", {ctx.inputs[0], ctx.ints("starts", {n.getOr<int64_t>("start", 0)}),
                    ctx.ints("ends", {n.getOr<int64_t>("end", std::numeric_limits<int64_t>::max())}),
                    ctx.ints("axes", {n.getOr<int64_t>("dim", 0)}), ctx.ints("steps", {n.getOr<int64_t>("step", 1)})},
          {ctx.outputs[0]});
}

std::string sliceScript(ScriptEmitContext& ctx) {
  const Node& n = ctx.node;
  return ctx.call("torch.slice", {ctx.inputs[0], script::integer(n.getOr<int64_t>("dim", 0)),
                                  script::integer(n.getOr<int64_t>("start", 0)),
                                  script::integer(n.getOr<int64_t>("end", std::numeric_limits<int64_t>::max())),
                                  script::integer(n.getOr<int64_t>("step", 1))});
}

void transposeOnnx(OnnxEmitContext& ctx) {
  size_t rank = ctx.inputRank(0);
  Ints perm;
  if (ctx.node.target() == "permute") {
    for (int64_t d : ctx.node.get<Ints>("dims")) perm.push_back(normalizeDim(ctx.node, d, rank));
  } else {
    for (size_t i = 0; i < rank; ++i) perm.push_back(static_cast<int64_t>(i));
    std::swap(perm[normalizeDim(ctx.node, ctx.node.get<int64_t>("dim0"), rank)],
              perm[normalizeDim(ctx.node, ctx.node.get<int64_t>("dim1"), rank)]);
  }
  ctx.add("Transpose", ctx.inputs, {ctx.outputs[0]}).attr("perm", perm);
}

// F.pad's (last dim first) pairs -> ONNX's [begin per dim..., end per dim...].
void padOnnx(OnnxEmitContext& ctx) {
  const Node& n = ctx.node;
  size_t rank = ctx.inputRank(0);
  Ints pad = n.get<Ints>("pad"), pads(2 * rank, 0);
  for (size_t i = 0; i < pad.size() / 2; ++i) {
    pads[rank - 1 - i] = pad[2 * i];
    pads[2 * rank - 1 - i] = pad[2 * i + 1];
  }
  std::string mode = n.getOr<std::string>("mode", "constant");
  std::vector<std::string> in = {ctx.inputs[0], ctx.ints("pads", pads)};
  if (mode == "constant") in.push_back(ctx.scalar("value", static_cast<float>(n.getOr<double>("value", 0.0))));
  else if (mode == "replicate") mode = "edge";
  else if (mode == "circular") ctx.fail("mode 'circular' needs ONNX opset 19 ('wrap'); export supports 13 to 18");
  ctx.add("Pad", in, {ctx.outputs[0]}).attr("mode", mode);
}

std::string padScript(ScriptEmitContext& ctx) {
  const Node& n = ctx.node;
  std::string mode = n.getOr<std::string>("mode", "constant");
  return ctx.call("torch.pad", {ctx.inputs[0], script::ints(n.get<Ints>("pad")), script::string(mode),
                                mode == "constant" ? script::number(n.getOr<double>("value", 0.0)) : "None"});
}

// full_like's dtype: attribute dtype (a c10::ScalarType code, as TorchScript
// numbers them: 3 int32, 4 int64, 6 float32, 11 bool), else the input's.
std::optional<at::ScalarType> fullLikeDtype(const Node& n) {
  if (!n.hasAttr("dtype")) return std::nullopt;
  const int64_t code = n.get<int64_t>("dtype");
  check(n, code >= 0 && code < static_cast<int64_t>(at::ScalarType::NumOptions), "unknown dtype " + str(code));
  return static_cast<at::ScalarType>(code);
}

void fullLikeOnnx(OnnxEmitContext& ctx) {
  std::string shape = ctx.temp("shape");
  ctx.add("Shape", ctx.inputs, {shape});
  ctx.add("ConstantOfShape", {shape}, {ctx.outputs[0]})
      .attr("value", at::full({1}, ctx.node.get<double>("value"), fullLikeDtype(ctx.node).value_or(at::kFloat)));
}

// Splitting dim 1 hands each output a range of channels (a reversed cat);
// splitting another dim leaves every output all of them.
ChannelFlow splitFlow(const Node& n, const std::vector<Shape>& in) {
  if (in[0].size() < 2) return ChannelFlow::barrier();
  return normalizeDim(n, n.getOr<int64_t>("dim", 0), in[0].size()) == 1 ? ChannelFlow::split() : ChannelFlow::same();
}

// Padding H and W keeps channels; padding dim 1 adds channels of its own.
ChannelFlow padFlow(const Node& n, const std::vector<Shape>& in) {
  const size_t padded_dims = n.get<Ints>("pad").size() / 2;
  return in[0].size() >= 2 && padded_dims + 2 <= in[0].size() ? ChannelFlow::same() : ChannelFlow::barrier();
}

}  // namespace

void registerTensorOps(OpRegistry& r) {
  r.add(OpDef("split")
            .setArity(1, 1)
            .setKernel(splitKernel)
            .setShape(splitShape)
            .setChannels(splitFlow)
            .setOnnx(splitOnnx)
            .setTorchScript(splitScript));
  r.add(OpDef("chunk")
            .setArity(1, 1)
            .setKernel(splitKernel)
            .setShape(splitShape)
            .setChannels(splitFlow)
            .setOnnx(splitOnnx)
            .setTorchScript(splitScript));
  r.add(OpDef("slice")
            .setArity(1, 1)
            .setKernel(sliceKernel)
            .setShape(sliceShape)
            .setOnnx(sliceOnnx)
            .setTorchScript(sliceScript));
  r.add(OpDef("select")
            .setArity(1, 1)
            .setKernel([](const Node& n, const Tensors& in, const ExecContext&) {
              return Tensors{in[0].select(n.get<int64_t>("dim"), n.get<int64_t>("index"))};
            })
            .setShape(selectShape)
            .setOnnx(selectOnnx)
            .setTorchScript([](ScriptEmitContext& ctx) {
              return ctx.call("torch.select", {ctx.inputs[0], script::integer(ctx.node.get<int64_t>("dim")),
                                               script::integer(ctx.node.get<int64_t>("index"))});
            }));
  r.add(OpDef("expand")
            .setArity(1, 2)
            .setKernel(expandKernel)
            .setShape(expandShape)
            .setOnnx(expandOnnx)
            .setTorchScript(expandScript));
  r.add(OpDef("permute")
            .setArity(1, 1)
            .setKernel([](const Node& n, const Tensors& in, const ExecContext&) {
              return Tensors{in[0].permute(n.get<Ints>("dims"))};
            })
            .setShape(permuteShape)
            .setOnnx(transposeOnnx)
            .setTorchScript([](ScriptEmitContext& ctx) {
              return ctx.call("torch.permute", {ctx.inputs[0], script::ints(ctx.node.get<Ints>("dims"))});
            }));
  r.add(OpDef("transpose")
            .setArity(1, 1)
            .setKernel([](const Node& n, const Tensors& in, const ExecContext&) {
              return Tensors{in[0].transpose(n.get<int64_t>("dim0"), n.get<int64_t>("dim1"))};
            })
            .setShape(transposeShape)
            .setOnnx(transposeOnnx)
            .setTorchScript([](ScriptEmitContext& ctx) {
              return ctx.call("torch.transpose", {ctx.inputs[0], script::integer(ctx.node.get<int64_t>("dim0")),
                                                  script::integer(ctx.node.get<int64_t>("dim1"))});
            }));
  r.add(OpDef("pad")
            .setArity(1, 1)
            .setKernel(padKernel)
            .setShape(padShape)
            .setChannels(padFlow)
            .setOnnx(padOnnx)
            .setTorchScript(padScript));
  r.add(OpDef("matmul")
            .setArity(2, 2)
            .setKernel(
                [](const Node&, const Tensors& in, const ExecContext&) { return Tensors{at::matmul(in[0], in[1])}; })
            .setShape(matmulShape)
            .setMacs(matmulMacs)
            .setOnnx(onnxSingle("MatMul"))
            .setTorchScript(scriptCall("torch.matmul")));
  r.add(OpDef("full_like")
            .setArity(1, 1)
            .setKernel([](const Node& n, const Tensors& in, const ExecContext&) {
              const auto dtype = fullLikeDtype(n);
              return Tensors{at::full_like(in[0], n.get<double>("value"),
                                           in[0].options().dtype(dtype.value_or(in[0].scalar_type())))};
            })
            .setShape(sameAsFirstInput)
            .setChannels(ChannelFlow::same())
            .setOnnx(fullLikeOnnx)
            .setTorchScript([](ScriptEmitContext& ctx) {
              std::vector<std::string> args{ctx.inputs[0], script::number(ctx.node.get<double>("value"))};
              if (ctx.node.hasAttr("dtype")) args.push_back("dtype=" + script::integer(ctx.node.get<int64_t>("dtype")));
              return ctx.call("torch.full_like", args);
            }));
}

}  // namespace edgeopt::ir::ops
