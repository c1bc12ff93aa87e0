#pragma once
// PyTorch parity of a scripted model imported by the "torchscript" source,
// against a reference file written by a fixture script (make_importer_fixtures.py,
// make_coverage_fixtures.py): PREFIX.script.pt and PREFIX.ref.pt, a dict of
//   x, target        input batch and labels
//   eval_out         output in eval mode
//   loss, train_out  cross-entropy loss and output of one training step (SGD
//                    lr 0.1, momentum 0.9, weight decay 1e-4; dropout and
//                    stochastic depth p = 0)
//   after            a few weights and buffers after that step
#include "importer_test_util.h"

#include <edgeopt/ir/graph.h>

#include <ATen/Parallel.h>
#include <torch/optim/sgd.h>

#include <algorithm>
#include <set>
#include <string>

namespace edgeopt::test {

inline std::shared_ptr<GraphModule> importScriptFile(const std::string& path, const std::string& mode = "train",
                                                     const std::string& extra = "") {
  return loadModel("torchscript", "{path: '" + path + "', mode: " + mode + (extra.empty() ? "" : ", " + extra) + "}");
}

// Layers carry their module's path as name: a conv/linear/batch_norm node's
// weight is "<node name>.weight", its type is the torch.nn class, and its
// scope ends with itself. Every parameter and buffer is used.
inline void checkNames(const GraphModule& m) {
  std::set<std::string> used;
  for (ir::Node* n : m.graph().nodes()) {
    if (n->opcode() == ir::Opcode::Param) used.insert(n->target());
    if (n->opcode() != ir::Opcode::Call) continue;
    const std::string& op = n->target();
    if (op != "conv2d" && op != "linear" && op != "batch_norm") continue;
    INFO(n->format());
    REQUIRE(n->input(1)->producer()->opcode() == ir::Opcode::Param);
    CHECK(n->input(1)->producer()->target() == n->name() + ".weight");
    CHECK(n->moduleType() == (op == "conv2d" ? "Conv2d" : op == "linear" ? "Linear" : "BatchNorm2d"));
    REQUIRE(!n->scope().empty());
    CHECK(n->scope().back() == ir::ScopeEntry{n->name(), n->moduleType()});
  }
  for (auto& [name, _] : m.stateDict()) {
    INFO(name);
    CHECK(used.count(name) == 1);
  }
}

struct ParityTolerance {
  double eval = 1e-5;            // max |diff| of the eval output ...
  bool eval_relative = false;    // ... times max(1, max |ref|) when set
  double train = 1e-4;           // loss, train output, weights after the step
  bool names = true;             // checkNames (off where layers are not torch.nn modules one to one)
};

// Imports PREFIX.script.pt (train mode, `extra` options), checks names, the
// eval output and one SGD step against PREFIX.ref.pt.
inline void checkScriptParity(const std::string& prefix, ParityTolerance tol = {},
                                                      const std::string& extra = "") {
  at::set_num_threads(1);  // as the fixture scripts
  const std::string model = prefix.substr(prefix.rfind('/') + 1);
  auto ref = loadPickle(prefix + ".ref.pt");
  auto m = importScriptFile(prefix + ".script.pt", "train", extra);
  if (tol.names) checkNames(*m);
  CHECK(m->isTraining());
  at::Tensor x = ref.at("x").toTensor();

  m->eval();
  at::Tensor eval_out, want = ref.at("eval_out").toTensor();
  {
    at::NoGradGuard no_grad;
    eval_out = m->forward({x})[0];
  }
  const double eval_diff = maxAbsDiff(eval_out, want);
  const double eval_bound = tol.eval * (tol.eval_relative ? std::max(1.0, want.abs().max().item<double>()) : 1.0);
  WARN(model << ": eval max abs diff " << eval_diff << " (bound " << eval_bound << ")");
  CHECK(eval_diff <= eval_bound);

  // Dropout (and stochastic depth, built on dropout) off, as in the fixture.
  for (ir::Node* n : m->graph().nodes())
    if (n->target() == "dropout" || n->target() == "stochastic_depth") n->setAttr("p", 0.0);
  m->train();
  torch::optim::SGD opt(m->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(1e-4));
  at::Tensor out = m->forward({x})[0];
  at::Tensor loss = at::cross_entropy_loss(out, ref.at("target").toTensor());
  opt.zero_grad();
  loss.backward();
  opt.step();
  const double loss_diff = std::abs(loss.item<double>() - ref.at("loss").toTensor().item<double>());
  const double out_diff = maxAbsDiff(out, ref.at("train_out").toTensor());
  double after_diff = 0;
  for (auto& item : ref.at("after").toGenericDict()) {
    const std::string name = item.key().toStringRef();
    double d = maxAbsDiff(m->tensor(name), item.value().toTensor());
    INFO(name << " after one SGD step differs by " << d);
    CHECK(d < tol.train);
    after_diff = std::max(after_diff, d);
  }
  WARN(model << ": train loss diff " << loss_diff << ", train output diff " << out_diff
             << ", weights/BN stats after the step diff " << after_diff);
  CHECK(loss_diff < tol.train);
  CHECK(out_diff < tol.train);
}

}  // namespace edgeopt::test
