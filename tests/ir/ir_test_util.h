#pragma once
// Helpers for the IR tests.
#include <edgeopt/ir/executor.h>
#include <edgeopt/ir/graph.h>
#include <edgeopt/ir/shape_prop.h>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace edgeopt::test {

// Runs one op on graph inputs (weights passed as inputs too) as a node with
// `num_outputs` outputs, and checks on the way that its shape function
// predicts the kernel's output shapes.
inline std::vector<at::Tensor> runOpOutputs(const std::string& op, const std::vector<at::Tensor>& inputs,
                                            ir::Attrs attrs, size_t num_outputs, bool training = false) {
  ir::Graph g;
  std::vector<ir::Value*> values;
  std::vector<ir::Shape> shapes;
  for (size_t i = 0; i < inputs.size(); ++i) {
    values.push_back(g.input("in" + std::to_string(i)));
    shapes.push_back(inputs[i].sizes().vec());
  }
  ir::Node* n = g.call(op, values, std::move(attrs), "", num_outputs);
  g.output(n->outputs());
  g.lint();
  ir::propagateShapes(g, shapes, [](const std::string&) { return ir::ParamInfo{}; });
  ir::Executor ex(g);
  ir::ExecContext ctx;
  ctx.training = training;
  auto out = ex.run(inputs, [](const std::string& name) -> const at::Tensor& {
    throw std::runtime_error("no params here: " + name);
  }, ctx);
  REQUIRE(out.size() == num_outputs);
  for (size_t i = 0; i < out.size(); ++i) {
    INFO(op << " output " << i << ": shape function " << ir::formatShape(*n->output(i)->shape()) << " vs kernel "
            << ir::formatShape(out[i].sizes().vec()));
    CHECK(*n->output(i)->shape() == out[i].sizes().vec());
  }
  return out;
}

inline at::Tensor runOp(const std::string& op, const std::vector<at::Tensor>& inputs, ir::Attrs attrs = {},
                        bool training = false) {
  return runOpOutputs(op, inputs, std::move(attrs), 1, training)[0];
}

inline double maxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  return (a.detach().to(at::kDouble) - b.detach().to(at::kDouble)).abs().max().item<double>();
}

}  // namespace edgeopt::test
