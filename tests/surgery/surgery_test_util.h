#pragma once
// Helpers for the surgery rule tests: rules are created from the registry by
// name, exactly as the surgery stage creates them.
#include <edgeopt/config.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/shape_prop.h>
#include <edgeopt/plugin_host.h>
#include <edgeopt/surgery.h>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace edgeopt::test {

inline void loadSurgeryPlugin() {
  static PluginHost host;
  host.load(builtinPluginDir() + "/libedgeopt_surgery.so");
}

// Applies the rule `name` (options as YAML map text) once to `m`; returns
// the names it reports replaced. Lints and re-propagates shapes afterwards,
// as the stage does.
inline std::vector<std::string> applyRule(GraphModule& m, const std::string& name, const std::string& options = "") {
  loadSurgeryPlugin();
  const auto* entry = registries().of<SurgeryRule>().find(name);
  REQUIRE(entry != nullptr);
  ConfigNode node = options.empty() ? ConfigNode() : ConfigNode::parse(options, "<test>");
  auto rule = entry->factory.create(entry->factory.options.validate(node, "rules." + name));
  if (!m.exampleInputShapes().empty()) ir::propagateShapes(m, m.exampleInputShapes());
  std::vector<std::string> replaced;
  SurgeryContext ctx;
  ctx.applied = [&](const std::string& n) { replaced.push_back(n); };
  Rewriter rw(m);
  rule->apply(rw, ctx);
  m.lint();
  if (!m.exampleInputShapes().empty()) ir::propagateShapes(m, m.exampleInputShapes());
  return replaced;
}

inline int countOps(const GraphModule& m, const std::string& op) {
  int n = 0;
  for (ir::Node* node : m.graph().nodes()) n += node->opcode() == ir::Opcode::Call && node->target() == op;
  return n;
}

inline at::Tensor evalOutput(GraphModule& m, const at::Tensor& x) {
  m.eval();
  at::NoGradGuard no_grad;
  return m.forward({x})[0];
}

inline double maxDiff(const at::Tensor& a, const at::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  return (a - b).abs().max().item<double>();
}

}  // namespace edgeopt::test
