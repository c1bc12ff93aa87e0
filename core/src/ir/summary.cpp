#include <edgeopt/graph_module.h>
#include <edgeopt/ir/shape_prop.h>
#include <edgeopt/ir/summary.h>

#include <algorithm>
#include <any>
#include <iomanip>
#include <sstream>

namespace edgeopt::ir {
namespace {

int64_t metaInt(const Node& n, const char* key) {
  auto it = n.meta().find(key);
  return it == n.meta().end() ? 0 : std::any_cast<int64_t>(it->second);
}

// 3504872 -> "3,504,872"
std::string grouped(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

std::string human(double v) {
  std::ostringstream s;
  const char* suffix = "";
  if (v >= 1e9) { v /= 1e9; suffix = "G"; }
  else if (v >= 1e6) { v /= 1e6; suffix = "M"; }
  else if (v >= 1e3) { v /= 1e3; suffix = "K"; }
  s << std::fixed << std::setprecision(2) << v << ' ' << suffix;
  return s.str();
}

}  // namespace

ModelSummary summarize(GraphModule& module, const Shape& input_shape) {
  propagateShapes(module, {input_shape});
  ModelSummary out;
  out.inputShape = input_shape;
  for (const Node* n : module.graph().nodes()) {
    if (n->opcode() != Opcode::Call) continue;
    LayerSummary row{n->name(), n->target(), n->moduleType(), *n->output()->shape(), metaInt(*n, "params"),
                     metaInt(*n, "macs")};
    out.totalMacs += row.macs;
    out.layers.push_back(std::move(row));
  }
  for (const Value* v : module.graph().outputs()) out.outputShapes.push_back(*v->shape());
  for (auto& [name, t] : module.namedParameters()) {
    out.totalParams += t.numel();
    if (t.requires_grad()) out.trainableParams += t.numel();
  }
  for (auto& [name, t] : module.namedBuffers()) out.bufferElements += t.numel();
  return out;
}

std::string formatSummary(const ModelSummary& s) {
  size_t name_w = 10, type_w = 12, shape_w = 12;
  for (auto& l : s.layers) {
    name_w = std::max(name_w, l.name.size());
    type_w = std::max(type_w, (l.moduleType.empty() ? l.op : l.moduleType + " (" + l.op + ")").size());
    shape_w = std::max(shape_w, formatShape(l.outputShape).size());
  }
  std::ostringstream o;
  auto row = [&](const std::string& a, const std::string& b, const std::string& c, const std::string& d,
                 const std::string& e) {
    o << std::left << std::setw(name_w + 2) << a << std::setw(type_w + 2) << b << std::setw(shape_w + 2) << c
      << std::right << std::setw(14) << d << std::setw(18) << e << '\n';
  };
  std::string rule(name_w + type_w + shape_w + 6 + 32, '=');
  o << rule << '\n';
  row("Layer", "Type (op)", "Output Shape", "Params", "MACs");
  o << rule << '\n';
  for (auto& l : s.layers)
    row(l.name, l.moduleType.empty() ? l.op : l.moduleType + " (" + l.op + ")", formatShape(l.outputShape),
        l.params ? grouped(l.params) : "--", l.macs ? grouped(l.macs) : "--");
  o << rule << '\n';
  o << "Input shape: " << formatShape(s.inputShape) << "\n";
  o << "Output shape(s):";
  for (auto& sh : s.outputShapes) o << ' ' << formatShape(sh);
  o << "\nTotal params: " << grouped(s.totalParams) << " (" << human(static_cast<double>(s.totalParams)) << ")\n";
  o << "Trainable params: " << grouped(s.trainableParams) << "\n";
  o << "Non-trainable params: " << grouped(s.totalParams - s.trainableParams) << "\n";
  o << "Buffer elements: " << grouped(s.bufferElements) << "\n";
  o << "Total MACs: " << grouped(s.totalMacs) << " (" << human(static_cast<double>(s.totalMacs)) << ")\n";
  o << rule << '\n';
  return o.str();
}

}  // namespace edgeopt::ir
