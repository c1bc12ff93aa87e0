// The run report's view of a checkpoint: per-layer params, MACs, sparsity
// and quantizers (run_report_parts.h).
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/summary.h>
#include <edgeopt/quant/qparams.h>

#include "run_report_parts.h"

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <mutex>
#include <set>
#include <unordered_map>

namespace fs = std::filesystem;

namespace edgeopt::report {
namespace {

// "uint8", "int8", "int4": the quantizer's grid.
std::string gridName(const ir::Node& fq) {
  const auto spec = quant::QParamSpec::of(fq);
  const int bits = static_cast<int>(std::lround(std::log2(static_cast<double>(spec.quant_max - spec.quant_min + 1))));
  return std::string(spec.quant_min < 0 ? "int" : "uint") + std::to_string(bits) + (spec.power_of_2 ? " p2" : "") +
         (spec.symmetric ? " sym" : "");
}

const at::Tensor* paramInput(const GraphModule& m, const ir::Node& n, size_t i) {
  if (i >= n.numInputs()) return nullptr;
  const ir::Node* p = n.input(i)->producer();
  if (p->opcode() != ir::Opcode::Param || !m.hasTensor(p->target())) return nullptr;
  return &m.tensor(p->target());
}

// "uint8 scale 0.02353 zp 0 range [0, 6]" (per tensor) or
// "int8 sym per-channel (16) scale 0.0011–0.023 zp 0" (per channel).
std::string describeQuantizer(const GraphModule& m, const ir::Node& fq) {
  std::string out = gridName(fq);
  const at::Tensor* scale = paramInput(m, fq, quant::kScale);
  const at::Tensor* zp = paramInput(m, fq, quant::kZeroPoint);
  if (!scale || !zp || scale->numel() == 0) return out;
  const at::Tensor s = scale->to(at::kDouble), z = zp->to(at::kLong);
  if (s.numel() == 1) {
    out += " scale " + report::shortNumber(s.item<double>()) + " zp " + std::to_string(z.item<int64_t>());
    const at::Tensor* lo = paramInput(m, fq, quant::kMinVal);
    const at::Tensor* hi = paramInput(m, fq, quant::kMaxVal);
    if (lo && hi && lo->numel() == 1 && hi->numel() == 1)
      out += " range [" + report::shortNumber(lo->to(at::kDouble).item<double>()) + ", " +
             report::shortNumber(hi->to(at::kDouble).item<double>()) + "]";
    return out;
  }
  const int64_t zmin = z.min().item<int64_t>(), zmax = z.max().item<int64_t>();
  return out + " per-channel (" + std::to_string(s.numel()) + ") scale " + report::shortNumber(s.min().item<double>()) +
         "\u2013" + report::shortNumber(s.max().item<double>()) + " zp " +
         (zmin == zmax ? std::to_string(zmin) : std::to_string(zmin) + "\u2013" + std::to_string(zmax));
}

ModelInfo analyze(const std::string& checkpoint) {
  ModelInfo info;
  std::shared_ptr<GraphModule> m;
  try {
    m = GraphModule::load(checkpoint);
  } catch (const std::exception& e) {
    info.error = e.what();
    return info;
  }
  for (const auto& [name, t] : m->namedParameters()) info.params += t.numel();
  if (!m->exampleInputShapes().empty()) {
    try {
      const auto summary = ir::summarize(*m, m->exampleInputShapes()[0]);
      info.macs = summary.totalMacs;
      info.has_macs = true;
      info.input_shape = ir::formatShape(summary.inputShape);
    } catch (const std::exception& e) {
      info.error = std::string("MACs unknown: ") + e.what();
    }
  }
  // A call is on the weight side when it only computes on parameters (BN
  // folding, weight fake-quant): it is shown in the row of the layer using it.
  const auto nodes = m->graph().nodes();
  std::unordered_map<const ir::Node*, bool> weight_side;
  for (const ir::Node* n : nodes) {
    if (n->opcode() != ir::Opcode::Call) continue;
    bool ws = n->numInputs() > 0;
    for (const ir::Value* v : n->inputs()) {
      const ir::Node* p = v->producer();
      ws = ws && (p->opcode() == ir::Opcode::Param || (p->opcode() == ir::Opcode::Call && weight_side[p]));
    }
    weight_side[n] = ws;
  }
  auto ownerOf = [&](const ir::Node* n) -> const ir::Node* {
    std::vector<const ir::Node*> todo{n};
    std::set<const ir::Node*> seen;
    while (!todo.empty()) {
      const ir::Node* cur = todo.front();
      todo.erase(todo.begin());
      for (size_t o = 0; o < cur->numOutputs(); ++o)
        for (const ir::Node* u : cur->output(o)->users()) {
          if (u->opcode() != ir::Opcode::Call || !seen.insert(u).second) continue;
          if (!weight_side[u]) return u;
          todo.push_back(u);
        }
    }
    return nullptr;
  };
  auto metaInt = [](const ir::Node& n, const char* key) -> int64_t {
    auto it = n.meta().find(key);
    if (it == n.meta().end()) return 0;
    const auto* v = std::any_cast<int64_t>(&it->second);
    return v ? *v : 0;
  };
  std::unordered_map<const ir::Node*, size_t> row_of;
  auto rowFor = [&](const ir::Node* n) -> LayerRow& {
    auto it = row_of.find(n);
    if (it != row_of.end()) return info.rows[it->second];
    LayerRow r;
    r.name = n->name();
    r.op = n->target();
    r.type = n->moduleType();
    if (n->numOutputs() && n->output()->shape()) r.shape = ir::formatShape(*n->output()->shape());
    row_of[n] = info.rows.size();
    info.rows.push_back(std::move(r));
    return info.rows.back();
  };
  std::set<std::string> counted;  // a tensor used by several calls counts once
  for (const ir::Node* n : nodes) {
    if (n->opcode() != ir::Opcode::Call) continue;
    ++info.calls;
    const ir::Node* owner = weight_side[n] ? ownerOf(n) : n;
    if (!owner) owner = n;
    LayerRow& row = rowFor(owner);
    row.macs += metaInt(*n, "macs");
    for (size_t i = 0; i < n->numInputs(); ++i) {
      const ir::Node* p = n->input(i)->producer();
      if (p->opcode() != ir::Opcode::Param || !m->hasTensor(p->target()) || m->isBuffer(p->target())) continue;
      if (!counted.insert(p->target()).second) continue;
      const at::Tensor& t = m->tensor(p->target());
      row.params += t.numel();
      if (t.dim() >= 2) {
        const int64_t zeros = (t == 0).sum().item<int64_t>();
        row.weights += t.numel(), row.zeros += zeros;
        info.weights += t.numel(), info.zeros += zeros;
      }
    }
    if (n->target() == "fake_quant") {
      ++info.quantizers;
      try {
        const std::string q = describeQuantizer(*m, *n);
        row.quant += (row.quant.empty() ? "" : "; ") + std::string(owner != n ? "weights " : "") + q;
      } catch (const std::exception& e) {
        row.quant += (row.quant.empty() ? "" : "; ") + std::string("unreadable: ") + e.what();
      }
    }
  }
  return info;
}

}  // namespace

const ModelInfo& analyzeCached(const std::string& checkpoint) {
  static std::mutex mutex;
  static std::map<std::string, std::pair<std::string, ModelInfo>> cache;
  std::error_code ec;
  const auto size = fs::file_size(checkpoint, ec);
  const auto time = fs::last_write_time(checkpoint, ec).time_since_epoch().count();
  const std::string key = std::to_string(size) + ":" + std::to_string(time);
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(checkpoint);
  if (it == cache.end() || it->second.first != key) it = cache.insert_or_assign(checkpoint, std::make_pair(key, analyze(checkpoint))).first;
  return it->second.second;
}

std::string layerTable(const ModelInfo& info, const std::map<std::string, std::string>& replaced) {
  const bool sparsity = info.zeros > 0, quant = info.quantizers > 0;
  bool surgery = false;
  for (const auto& r : info.rows) surgery = surgery || replaced.count(r.name);
  report::Table t;
  t.cssClass = "layers";
  t.header = {"#", "layer", "op", "module", "output", "params", "MACs"};
  t.numeric = {0, 5, 6};
  if (sparsity) t.numeric.push_back(t.header.size()), t.header.push_back("sparsity %");
  if (quant) t.header.push_back("quantization");
  if (surgery) t.header.push_back("surgery");
  for (size_t i = 0; i < info.rows.size(); ++i) {
    const auto& r = info.rows[i];
    std::vector<std::string> cells = {std::to_string(i), escape(r.name), escape(r.op), escape(r.type), escape(r.shape),
                                      r.params ? report::grouped(r.params) : "", r.macs ? report::grouped(r.macs) : ""};
    if (sparsity)
      cells.push_back(r.weights ? report::fixed(100.0 * static_cast<double>(r.zeros) / static_cast<double>(r.weights), 1) : "");
    if (quant) cells.push_back(escape(r.quant));
    if (surgery) {
      auto it = replaced.find(r.name);
      cells.push_back(it == replaced.end() ? "" : escape("replaced (" + it->second + ")"));
    }
    t.rows.push_back(std::move(cells));
  }
  return t.render();
}

}  // namespace edgeopt::report
