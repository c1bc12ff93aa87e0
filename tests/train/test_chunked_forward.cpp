// Evaluation in cache-sized pieces (edgeopt/chunked_forward.h): the rows per
// piece follow from the model's largest activation, and the pieces' outputs
// equal one forward over the whole batch.
#include <ATen/ATen.h>

#include <edgeopt/chunked_forward.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/builder.h>

#include <catch2/catch.hpp>

using namespace edgeopt;

namespace {

// conv(3->8, 3x3, pad 1) on 8x8 -> BN -> ReLU -> flatten -> linear(512->5):
// its largest activation is the conv's, 8 x 8 x 8 floats (2048 bytes) an image.
std::shared_ptr<GraphModule> smallNet(bool transposed_output = false) {
  ir::ModelBuilder b;
  ir::Value* x = b.input("x");
  x = b.conv2d("conv", x, ir::Conv2dOptions(3, 8, 3).padding(1));
  x = b.batchNorm2d("bn", x, 8);
  x = b.relu("relu", x);
  x = b.flatten("flatten", x);
  x = b.linear("fc", x, 512, 5);
  if (transposed_output) x = b.functional("transpose", {x}, {{"dim0", int64_t{0}}, {"dim1", int64_t{1}}});
  b.output({x});
  auto m = b.finish();
  at::NoGradGuard no_grad;
  for (const auto& [name, t] : m->stateDict())
    if (name.find("running_var") != std::string::npos) t.copy_(at::rand_like(t) + 0.5);
    else if (name.find("running_mean") != std::string::npos) t.copy_(at::randn_like(t) * 0.2);
  m->eval();
  return m;
}

}  // namespace

TEST_CASE("evaluation pieces: rows from the largest activation and the same outputs as one forward", "[train][pieces]") {
  at::manual_seed(0);
  auto m = smallNet();
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({40, 3, 8, 8});
  const int64_t image = 8 * 8 * 8 * 4;
  CHECK(evaluationRows(*m, x, image * 40) == 40);  // fits: the whole batch
  CHECK(evaluationRows(*m, x, image * 39) == 20);  // 2 equal pieces, not 39 + 1
  CHECK(evaluationRows(*m, x, image * 12) == 10);  // 4 pieces
  CHECK(evaluationRows(*m, x, image * 15) == 14);  // 3 pieces: 14, 14, 12
  CHECK(evaluationRows(*m, x, 100) == 1);
  CHECK(evaluationRows(*m, x.narrow(0, 0, 1), 100) == 1);
  // The model's own value shapes are not touched (the rows come from a copy).
  CHECK_FALSE(m->graph().outputs()[0]->shape().has_value());

  const at::Tensor whole = m->forward({x})[0];
  for (int64_t rows : {1, 7, 14, 40, 100}) {
    INFO(rows);
    const std::vector<at::Tensor> pieces = forwardInPieces(*m, x, rows);
    REQUIRE(pieces.size() == 1);
    CHECK(pieces[0].sizes() == whole.sizes());
    CHECK(at::allclose(pieces[0], whole, 1e-5, 1e-6));
  }
  // An output that is not per image ([5, N]): the whole batch at once.
  auto t = smallNet(true);
  const at::Tensor whole_t = t->forward({x})[0];
  const std::vector<at::Tensor> pieces_t = forwardInPieces(*t, x, 14);
  CHECK(pieces_t[0].sizes() == whole_t.sizes());
  CHECK(at::equal(pieces_t[0], whole_t));
}
