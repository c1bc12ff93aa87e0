// edgeopt-run end to end: one export stage writes the EdgeOpt checkpoint, the
// ONNX file and the TorchScript file.
#include "export_test_util.h"  // first: ATen's glog CHECK must come before Catch's
#include "cli_runner.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <filesystem>

namespace fs = std::filesystem;
using namespace edgeopt;
using namespace edgeopt::test;

namespace {

const char* kRecipe = R"(version: 1
name: exports
threads: 1
model: {source: zoo, name: mobilenet_v2, num_classes: 10, input_size: 32}
stages:
  - kind: export
    formats: [edgeopt, onnx, torchscript]
)";

// The plugins this run needs (copies, like cliPluginPath does for the CLI tests).
std::string exportPluginPath(const std::string& dir) {
  fs::create_directories(dir);
  for (const char* name : {"export", "zoo", "onnx_export", "torchscript_export"}) {
    const std::string file = std::string("libedgeopt_") + name + ".so";
    fs::copy_file(fs::path(EDGEOPT_BINARY_DIR) / "lib/edgeopt/plugins" / file, fs::path(dir) / file,
                  fs::copy_options::overwrite_existing);
  }
  return dir;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

TEST_CASE("the edgeopt-run export stage writes edgeopt and onnx and torchscript files", "[cli][onnx][torchscript]") {
  const std::string dir = scratchDir("e2e");
  writeText(dir + "/r.yaml", kRecipe);
  const std::string plugins = exportPluginPath(dir + "/plugins");
  CliResult dry = runCli("r.yaml --dry-run", dir, plugins);
  INFO(dry.err);
  REQUIRE(dry.code == 0);
  CHECK(dry.out.find("writes exports/model.edgeopt, exports/model.onnx, exports/model.pt") != std::string::npos);

  CliResult r = runCli("r.yaml", dir, plugins);
  INFO(r.err);
  REQUIRE(r.code == 0);
  const std::string run = dir + "/" + trimmed(r.out);
  for (const char* f : {"exports/model.edgeopt", "exports/model.onnx", "exports/model.pt"})
    CHECK(fs::is_regular_file(run + "/" + f));
  // No temporaries left next to them.
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(run + "/exports")) files += e.is_regular_file();
  CHECK(files == 3);

  onnx::ModelProto proto;
  REQUIRE(proto.ParseFromString(readText(run + "/exports/model.onnx")));
  REQUIRE_NOTHROW(onnx::checker::check_model(proto));
  CHECK(proto.opset_import(0).version() == 17);
  const auto& shape = proto.graph().input(0).type().tensor_type().shape();
  REQUIRE(shape.dim_size() == 4);
  CHECK(shape.dim(0).dim_param() == "batch");
  CHECK(shape.dim(2).dim_value() == 32);
  auto checkpoint = GraphModule::load(run + "/exports/model.edgeopt");
  CHECK(checkpoint->stateDict().size() > 100);
}
