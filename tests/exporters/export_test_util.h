#pragma once
// Helpers for the exporter tests: plugins, exporters with options, zoo models
// with non-trivial BatchNorm state, raw float32 files and external runners.
// ATen (with glog's CHECK) before Catch, so Catch's CHECK wins.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "tensor_compare.h"
#include "test_support.h"

#include <edgeopt/config.h>
#include <edgeopt/exporter.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/plugin_host.h>
#include <edgeopt/registry.h>

#include "zoo_models.h"

#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

namespace edgeopt::test {

// Loads libedgeopt_<name>.so from the built-in plugin folder (once).
inline void loadBuiltinPlugin(const std::string& name) {
  static PluginHost host;
  host.load(builtinPluginDir() + "/libedgeopt_" + name + ".so");
}

// An exporter created like the export stage does, with `options_yaml` (a map).
inline std::unique_ptr<Exporter> makeExporter(const std::string& format, const std::string& options_yaml = "") {
  const auto* entry = registries().of<Exporter>().find(format);
  REQUIRE(entry != nullptr);
  ConfigNode node = options_yaml.empty() ? ConfigNode() : ConfigNode::parse(options_yaml, "<test>");
  return entry->factory.create(entry->factory.options.validate(node, "exporter"));
}

// A zoo model (10 classes, 64 px) in eval mode with non-trivial BatchNorm:
// random affine parameters, and running statistics calibrated on one random
// batch (momentum 1), so activations stay O(1) like a trained network's.
inline std::shared_ptr<GraphModule> zooModel(const std::string& name, int64_t input_size = 64) {
  at::manual_seed(0);
  ZooOptions o;
  o.num_classes = 10;
  o.input_size = input_size;
  auto m = buildZooModel(name, o);
  at::NoGradGuard no_grad;
  auto endsWith = [](const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
  };
  for (const auto& [n, t] : m->namedParameters()) {
    if (t.dim() != 1) continue;
    if (endsWith(n, ".weight")) m->setTensor(n, at::rand_like(t) * 0.5 + 0.75);
    else if (endsWith(n, ".bias")) m->setTensor(n, at::randn_like(t) * 0.1);
  }
  using SavedMomentum = std::optional<ir::AttrValue>;
  std::vector<std::pair<ir::Node*, SavedMomentum>> momentum;
  for (ir::Node* n : m->graph().nodes())
    if (n->opcode() == ir::Opcode::Call && n->target() == "batch_norm") {
      momentum.emplace_back(n, n->hasAttr("momentum") ? SavedMomentum(n->attr("momentum")) : std::nullopt);
      n->setAttr("momentum", 1.0);
    }
  m->train();
  m->forward({at::randn({4, o.in_channels, input_size, input_size})});
  for (auto& [n, old] : momentum) {
    if (old) n->setAttr("momentum", *old);
    else n->removeAttr("momentum");
  }
  for (const auto& [n, t] : m->namedBuffers())
    if (endsWith(n, "num_batches_tracked")) m->setTensor(n, at::zeros_like(t));
  m->eval();
  return m;
}

inline void writeFloats(const std::string& path, const at::Tensor& t) {
  at::Tensor c = t.detach().to(at::kFloat).contiguous();
  std::ofstream(path, std::ios::binary).write(static_cast<const char*>(c.data_ptr()), c.numel() * sizeof(float));
}

inline at::Tensor readFloats(const std::string& path, at::IntArrayRef dims) {
  std::string bytes = readText(path);
  at::Tensor t = at::empty(dims, at::kFloat);
  REQUIRE(bytes.size() == static_cast<size_t>(t.numel()) * sizeof(float));
  std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
  return t;
}

// Runs `command` through the shell with stdout+stderr in `log`; exit status.
inline int runLogged(const std::string& command, const std::string& log) {
  int status = std::system((command + " > '" + log + "' 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

inline nlohmann::json readJson(const std::string& path) { return nlohmann::json::parse(readText(path)); }

}  // namespace edgeopt::test
