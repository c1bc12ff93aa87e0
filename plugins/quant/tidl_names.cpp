// renameForTidl (quant_plugin.h): short, legal, unique tensor and node names.
//
// Names the IR gives ONNX values follow the module path ("features.3.conv.1/
// act_quant/quantized", ...): long, with '.' and '/'. TIDL's import reports
// layers by these names, and its name-list options (for example
// advanced_options:output_feature_16bit_names_list) are comma-separated
// strings of them, so short [A-Za-z0-9_] names are easier to handle there.
#include "quant_plugin.h"

#include <onnx/onnx_pb.h>

#include <cctype>
#include <map>
#include <set>
#include <string>

namespace edgeopt::quant_plugin {
namespace {

bool isLegal(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class Renamer {
 public:
  explicit Renamer(const onnx::GraphProto& g) {
    // Graph inputs and outputs are the model's interface: kept when legal.
    for (const auto& v : g.input()) keepIfLegal(v.name());
    for (const auto& v : g.output()) keepIfLegal(v.name());
  }

  // "" (an absent optional input) stays "".
  const std::string& tensor(const std::string& name, const char* prefix) {
    if (name.empty()) return name;
    auto it = names_.find(name);
    if (it != names_.end()) return it->second;
    return names_.emplace(name, fresh(prefix)).first->second;
  }

  std::string node(const std::string& op_type) { return fresh(lower(op_type) + "_"); }

 private:
  void keepIfLegal(const std::string& name) {
    if (!isLegal(name) || taken_.count(name)) return;
    names_.emplace(name, name);
    taken_.insert(name);
  }

  std::string fresh(const std::string& prefix) {
    std::string name;
    do name = prefix + std::to_string(counter_++);
    while (taken_.count(name));
    taken_.insert(name);
    return name;
  }

  std::map<std::string, std::string> names_;
  std::set<std::string> taken_;
  int64_t counter_ = 0;
};

}  // namespace

void renameForTidl(onnx::ModelProto& model) {
  onnx::GraphProto& g = *model.mutable_graph();
  Renamer r(g);
  for (auto& v : *g.mutable_input()) v.set_name(r.tensor(v.name(), "t"));
  for (auto& t : *g.mutable_initializer()) t.set_name(r.tensor(t.name(), "w"));
  for (auto& n : *g.mutable_node()) {
    for (auto& in : *n.mutable_input()) in = r.tensor(in, "t");
    for (auto& out : *n.mutable_output()) out = r.tensor(out, "t");
    n.set_name(r.node(n.op_type()));
  }
  for (auto& v : *g.mutable_output()) v.set_name(r.tensor(v.name(), "t"));
  for (auto& v : *g.mutable_value_info()) v.set_name(r.tensor(v.name(), "t"));
}

}  // namespace edgeopt::quant_plugin
