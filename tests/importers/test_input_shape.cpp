// Input shapes on the command line (issue 13): edgeopt-inspect --input-shape
// and edgeopt-run --input-shape reach the model source as its input_shape (an
// ONNX file with symbolic batch and width, Paddle2ONNX style; a TorchScript
// file whose views read x.size()), and a symbolic batch alone (torch.onnx's
// dynamic_axes, EdgeOpt's own exports) is taken as 1.
#include <edgeopt/graph_module.h>

#include "cli_runner.h"
#include "coverage_fixtures.h"

#include <filesystem>

using namespace edgeopt;
using edgeopt::test::coverageFixture;
using edgeopt::test::importerFixtureDir;
using edgeopt::test::loadModel;
using edgeopt::test::loadPickle;
using edgeopt::test::maxAbsDiff;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace fs = std::filesystem;

namespace {

test::CliResult inspect(const std::string& args, const std::string& dir) {
  return test::runProgram("edgeopt-inspect", args, dir, builtinPluginDir());
}

// A folder with the OCR-style fixtures and a recipe importing the fully
// dynamic one (no input_shape in the recipe).
std::string ocrDir(const std::string& name) {
  const std::string dir = test::scratchDir(name);
  for (std::string f : {"ocr_head.dynamic.onnx", "ocr_head.batch.onnx"}) fs::copy_file(coverageFixture(f), dir + "/" + f);
  test::writeText(dir + "/r.yaml", "version: 1\nname: ocr\nmodel: {source: onnx_import, path: ocr_head.dynamic.onnx}\n"
                                   "stages:\n  - kind: summary\n");
  return dir;
}

}  // namespace

TEST_CASE("edgeopt-inspect: --input-shape reaches the ONNX importer (symbolic batch and width)",
          "[importers][onnx][cli]") {
  const std::string dir = ocrDir("inspect-input-shape");
  auto without = inspect("ocr_head.dynamic.onnx", dir);
  CHECK(without.code == 5);
  CHECK_THAT(without.lastErrLine(), StartsWith("error: ocr_head.dynamic.onnx: unsupported ONNX operators") &&
                                        Contains("Shape at node") && Contains("--input-shape"));
  auto with = inspect("ocr_head.dynamic.onnx --input-shape 1,3,48,192", dir);
  INFO(with.out << with.err);
  CHECK(with.code == 0);
  CHECK_THAT(with.out, Contains("Input shape: [1, 3, 48, 192]"));
  // conv 8x3x3x3 over 24x96 outputs + fc 8->5 over 96 steps.
  CHECK_THAT(with.out, Contains("Total MACs: 501,504"));
  auto wider = inspect("ocr_head.dynamic.onnx --input-shape 1,3,48,320", dir);
  CHECK(wider.code == 0);
  CHECK_THAT(wider.out, Contains("Input shape: [1, 3, 48, 320]") && Contains("Total MACs: 835,840"));
}

TEST_CASE("edgeopt-run --dry-run --input-shape gives the model source its input_shape", "[importers][onnx][cli]") {
  const std::string dir = ocrDir("run-input-shape");
  auto without = test::runCli("r.yaml --dry-run", dir, builtinPluginDir());
  CHECK(without.code == 5);
  CHECK_THAT(without.lastErrLine(), Contains("Shape at node"));
  auto with = test::runCli("r.yaml --dry-run --input-shape 1,3,48,192", dir, builtinPluginDir());
  INFO(with.out << with.err);
  CHECK(with.code == 0);
  CHECK_THAT(with.out, Contains("0.502 M MACs at [1, 3, 48, 192]"));
  // Over the recipe's own input_shape, as --set would be.
  auto over = test::runCli("r.yaml --dry-run --set model.input_shape=[1,3,48,100] --input-shape 1,3,48,320", dir,
                           builtinPluginDir());
  CHECK(over.code == 0);
  CHECK_THAT(over.out, Contains("M MACs at [1, 3, 48, 320]"));
  // A run records it in the recipe it ran.
  auto run = test::runCli("r.yaml --output out --input-shape 1,3,48,192", dir, builtinPluginDir());
  INFO(run.err);
  REQUIRE(run.code == 0);
  CHECK_THAT(test::readText(dir + "/out/recipe.yaml"), Contains("input_shape: [1, 3, 48, 192]"));
  // Sources that know their shape take none; sizes below 1 are a bad command line.
  test::writeText(dir + "/zoo.yaml", "version: 1\nname: z\nmodel: {source: zoo, name: simple_cnn}\n"
                                     "stages:\n  - kind: summary\n");
  auto zoo = test::runCli("zoo.yaml --dry-run --input-shape 1,3,32,32", dir, builtinPluginDir());
  CHECK(zoo.code == 2);
  CHECK(zoo.lastErrLine() == "error: --input-shape: the model source 'zoo' takes no input_shape option");
  auto zero = test::runCli("r.yaml --dry-run --input-shape 1,3,0,8", dir, builtinPluginDir());
  CHECK(zero.code == 2);
  CHECK(zero.lastErrLine() == "error: --input-shape: every size must be at least 1, got [1, 3, 0, 8]");
}

TEST_CASE("onnx: a symbolic batch alone is taken as 1 and stays free", "[importers][onnx]") {
  auto ref = loadPickle(coverageFixture("ocr_head.ref.pt"));
  const at::Tensor x = ref.at("x").toTensor(), want = ref.at("eval_out").toTensor();
  auto m = loadModel("onnx_import", "{path: '" + coverageFixture("ocr_head.batch.onnx") + "'}");
  CHECK(m->exampleInputShapes() == std::vector<ir::Shape>{{1, 3, 48, 192}});
  at::NoGradGuard no_grad;
  CHECK(maxAbsDiff(m->forward({x.slice(0, 0, 1)})[0], want.slice(0, 0, 1)) < 1e-5);
  CHECK(maxAbsDiff(m->forward({x})[0], want) < 1e-5);  // x.reshape(x.shape[0], C, -1): batch left free
  // The fully dynamic file with input_shape gives the same numbers.
  auto d = loadModel("onnx_import",
                     "{path: '" + coverageFixture("ocr_head.dynamic.onnx") + "', input_shape: [2, 3, 48, 192]}");
  CHECK(maxAbsDiff(d->forward({x})[0], want) < 1e-5);

  const std::string dir = ocrDir("inspect-batch");
  auto r = inspect("ocr_head.batch.onnx", dir);
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Contains("Input shape: [1, 3, 48, 192]"));
}

TEST_CASE("edgeopt-inspect: EdgeOpt's own ONNX export (batch dim 'batch') needs no --input-shape",
          "[importers][onnx][cli]") {
  const std::string dir = test::scratchDir("inspect-own-export");
  test::writeText(dir + "/r.yaml",
                  "version: 1\nname: own\nmodel: {source: zoo, name: simple_cnn}\n"
                  "stages:\n  - kind: export\n    formats: [onnx]\n");
  auto run = test::runCli("r.yaml --output out", dir, builtinPluginDir());
  INFO(run.err);
  REQUIRE(run.code == 0);
  auto r = inspect("out/exports/model.onnx", dir);
  INFO(r.err);
  CHECK(r.code == 0);
  auto zoo = inspect("zoo:simple_cnn", dir);
  REQUIRE(zoo.code == 0);
  // The zoo model's input shape (batch 1) and parameters.
  auto line = [](const std::string& out, const std::string& head) {
    const size_t at = out.find(head);
    return at == std::string::npos ? std::string() : out.substr(at, out.find('\n', at) - at);
  };
  CHECK(line(r.out, "Input shape: ") == "Input shape: [1, 3, 224, 224]");
  CHECK(line(zoo.out, "Input shape: ") == "Input shape: [1, 3, 224, 224]");
  CHECK(line(r.out, "Total params: ") == line(zoo.out, "Total params: "));
}

TEST_CASE("edgeopt-inspect: --input-shape reaches the TorchScript importer (views sized from x.size())",
          "[importers][torchscript][cli]") {
  const std::string dir = test::scratchDir("inspect-ts-input-shape");
  fs::copy_file(importerFixtureDir() + "/shufflenet_v2_x0_5.script.pt", dir + "/shufflenet.pt");
  auto without = inspect("shufflenet.pt", dir);
  CHECK(without.code == 5);
  CHECK_THAT(without.lastErrLine(), Contains("aten::view at 'stage2.0'") && Contains("need input_shape"));
  auto with = inspect("shufflenet.pt --input-shape 1,3,64,64", dir);
  INFO(with.err);
  CHECK(with.code == 0);
  CHECK_THAT(with.out, Contains("Input shape: [1, 3, 64, 64]"));
}
