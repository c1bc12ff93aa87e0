// The node a converter works on: its attributes, inputs and outputs, and
// queries on values (shape, rank, dtype, constant contents).
#include "onnx_import_internal.h"
#include "onnx_tensor.h"

#include <edgeopt/error.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>

namespace edgeopt::onnx_import::detail {

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

NodeContext::NodeContext(ImportState& state, const onnx::NodeProto* node, std::string name, std::string module_type,
                         ir::Scope scope)
    : state_(state), node_(node), name_(std::move(name)), module_type_(std::move(module_type)),
      scope_(std::move(scope)) {}

// ---------------------------------------------------------------------------
// Attributes

const onnx::AttributeProto* NodeContext::attr(const std::string& name) const {
  for (const auto& a : node_->attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

int64_t NodeContext::attrInt(const std::string& name, int64_t fallback) const {
  const auto* a = attr(name);
  return a ? a->i() : fallback;
}

double NodeContext::attrFloat(const std::string& name, double fallback) const {
  const auto* a = attr(name);
  return a ? static_cast<double>(a->f()) : fallback;
}

std::string NodeContext::attrString(const std::string& name, const std::string& fallback) const {
  const auto* a = attr(name);
  return a ? a->s() : fallback;
}

std::optional<Ints> NodeContext::attrInts(const std::string& name) const {
  const auto* a = attr(name);
  if (!a) return std::nullopt;
  return Ints(a->ints().begin(), a->ints().end());
}

// ---------------------------------------------------------------------------
// Inputs and outputs

const Val* NodeContext::in(size_t i) const {
  if (i >= static_cast<size_t>(node_->input_size()) || node_->input(i).empty()) return nullptr;
  auto it = state_.vals.find(node_->input(i));
  if (it == state_.vals.end())
    throw InputError(state_.opt.path + ": node '" + node_->name() + "' (" + node_->op_type() + ") reads '" +
                     node_->input(i) + "', which no node or initializer defines before it");
  return &it->second;
}

const Val& NodeContext::req(size_t i) const {
  const Val* v = in(i);
  if (!v) throw Unsupported{"input " + std::to_string(i) + " is missing"};
  return *v;
}

void NodeContext::setOut(size_t i, Val v) {
  if (!outputUsed(i)) return;
  v.name = node_->output(i);
  state_.vals[node_->output(i)] = std::move(v);
}

// ---------------------------------------------------------------------------
// Constant folding's memory

void NodeContext::reserveFoldingMemory(uint64_t bytes) const {
  const uint64_t available = state_.memory_available;
  const uint64_t held = std::min(state_.folded_bytes, available);
  if (bytes <= available - held) return;
  if (held == 0)
    failInput("its constant output needs " + std::to_string(bytes) + " bytes, more than the " +
              std::to_string(available) + " bytes of memory available");
  failInput("its constant output needs " + std::to_string(bytes) + " bytes; with the " + std::to_string(held) +
            " bytes of constants computed before it, more than the " + std::to_string(available) +
            " bytes of memory available");
}

void NodeContext::countFolded(const std::vector<at::Tensor>& inputs, const std::vector<at::Tensor>& outputs) {
  for (const at::Tensor& t : outputs) {
    if (!t.defined()) continue;
    bool view = false;  // Identity, Reshape and Squeeze share their input's memory
    for (const at::Tensor& in : inputs) view = view || (in.defined() && t.is_alias_of(in));
    if (!view) state_.folded_bytes += static_cast<uint64_t>(t.nbytes());
  }
}

// ---------------------------------------------------------------------------
// Values

std::optional<Shape> NodeContext::shapeOf(const Val& v) const {
  if (v.isConst()) return v.constant.sizes().vec();
  if (v.value && v.value->shape()) return *v.value->shape();
  return std::nullopt;
}

std::optional<int64_t> NodeContext::rankOf(const Val& v) const {
  if (auto s = shapeOf(v)) return static_cast<int64_t>(s->size());
  return std::nullopt;
}

std::optional<c10::ScalarType> NodeContext::dtypeOf(const Val& v) const {
  if (v.isConst()) return v.constant.scalar_type();
  auto it = state_.elem_types.find(v.name);
  if (it == state_.elem_types.end()) return std::nullopt;
  return scalarTypeOf(it->second);
}

Ints NodeContext::constInts(const Val* v, const std::string& what) const {
  if (!v || !v->isConst()) fail(what + " must be a constant");
  return toInts(v->constant);
}

std::optional<double> NodeContext::constScalar(const Val& v) const {
  if (!v.isConst() || v.constant.numel() != 1) return std::nullopt;
  return v.constant.to(at::kDouble).item<double>();
}

// Begin/end padding per spatial dim from pads or auto_pad.
std::optional<std::pair<Ints, Ints>> NodeContext::spatialPads(const Val& x, const Ints& kernel, const Ints& strides,
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
    if (!shape) fail("auto_pad " + auto_pad + " needs a known input shape");
    if (shape->size() != k + 2)
      fail("auto_pad " + auto_pad + ": a " + std::to_string(k) + "-d kernel needs an input of rank " +
           std::to_string(k + 2) + ", got " + ir::formatShape(*shape));
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

}  // namespace edgeopt::onnx_import::detail
