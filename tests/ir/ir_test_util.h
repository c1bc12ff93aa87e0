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

// Runs one op on graph inputs (weights passed as inputs too) and checks on the
// way that its shape function predicts the kernel's output shape.
inline at::Tensor runOp(const std::string& op, const std::vector<at::Tensor>& inputs, ir::Attrs attrs = {},
                        bool training = false) {
  ir::Graph g;
  std::vector<ir::Value*> values;
  std::vector<ir::Shape> shapes;
  for (size_t i = 0; i < inputs.size(); ++i) {
    values.push_back(g.input("in" + std::to_string(i)));
    shapes.push_back(inputs[i].sizes().vec());
  }
  ir::Node* n = g.call(op, values, std::move(attrs));
  g.output({n->output()});
  g.lint();
  ir::propagateShapes(g, shapes, [](const std::string&) { return ir::ParamInfo{}; });
  ir::Executor ex(g);
  ir::ExecContext ctx;
  ctx.training = training;
  auto out = ex.run(inputs, [](const std::string& name) -> const at::Tensor& {
    throw std::runtime_error("no params here: " + name);
  }, ctx);
  REQUIRE(out.size() == 1);
  INFO(op << " shape function " << ir::formatShape(*n->output()->shape()) << " vs kernel "
          << ir::formatShape(out[0].sizes().vec()));
  CHECK(*n->output()->shape() == out[0].sizes().vec());
  return out[0];
}

inline double maxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  return (a.detach().to(at::kDouble) - b.detach().to(at::kDouble)).abs().max().item<double>();
}

}  // namespace edgeopt::test
