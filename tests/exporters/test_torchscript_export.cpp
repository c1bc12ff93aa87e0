// TorchScript export of every zoo model, loaded by Python's torch.jit.load
// (Debian's /usr/bin/python3 + python3-torch, ts_check.py): same outputs, same
// state_dict keys, trainable (every parameter gets a gradient, BatchNorm
// tracks batches and, in train mode, gives PyTorch's outputs).
#include "export_test_util.h"

#include <algorithm>
#include <cstdio>

using namespace edgeopt;
using namespace edgeopt::test;

TEST_CASE("every zoo model exports to TorchScript that Python loads and runs and trains", "[torchscript][zoo]") {
  loadBuiltinPlugin("torchscript_export");
  const std::string dir = scratchDir("torchscript-zoo");
  at::manual_seed(1);
  at::Tensor x = at::randn({2, 3, 64, 64});
  writeFloats(dir + "/x.bin", x);
  const std::vector<std::string> names = zooModelNames();
  // Python uses this process's thread count: kernels then pick the same
  // algorithms, and outputs agree to the last bits rather than to ~1e-4.
  nlohmann::json manifest = {{"threads", at::get_num_threads()}, {"runs", nlohmann::json::array()}};
  std::vector<std::vector<at::Tensor>> expected;
  std::vector<std::vector<std::string>> keys;
  for (size_t i = 0; i < names.size(); ++i) {
    auto model = zooModel(names[i]);
    const std::string path = dir + "/" + names[i] + ".pt";
    INFO(names[i]);
    REQUIRE_NOTHROW(makeExporter("torchscript")->write(*model, path));
    at::NoGradGuard no_grad;
    expected.push_back(model->forward({x}));
    keys.emplace_back();
    for (const auto& [n, t] : model->stateDict()) keys.back().push_back(n);
    nlohmann::json run = {{"model", path},
                          {"inputs", {{{"file", dir + "/x.bin"}, {"dims", x.sizes().vec()}}}},
                          {"output_prefix", dir + "/py-" + std::to_string(i)}};
    // Train-mode outputs (batch statistics) for the models without dropout.
    if (names[i].rfind("resnet", 0) == 0 || names[i].rfind("regnet", 0) == 0 || names[i].rfind("yolo", 0) == 0 ||
        names[i] == "simple_cnn") {
      auto train_copy = model->clone();
      train_copy->train();
      writeFloats(dir + "/train-ref-" + std::to_string(i) + ".bin", train_copy->forward({x})[0]);
      run["train_reference"] = dir + "/train-ref-" + std::to_string(i) + ".bin";
    }
    manifest["runs"].push_back(run);
  }
  writeText(dir + "/manifest.json", manifest.dump());
  const std::string cmd = std::string(EDGEOPT_SYSTEM_PYTHON) + " '" EDGEOPT_EXPORTER_TEST_DIR "/ts_check.py' '" +
                          dir + "/manifest.json'";
  int rc = runLogged(cmd, dir + "/python.log");
  INFO(readText(dir + "/python.log"));
  REQUIRE(rc == 0);
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string prefix = dir + "/py-" + std::to_string(i);
    auto report = readJson(prefix + ".json");
    INFO(names[i] << ": " << report.dump().substr(0, 2000));
    REQUIRE(!report.contains("error"));
    // Same names; Python lists a module's own tensors before its children's,
    // which may order a model's keys differently from its registration order.
    auto py_keys = report["keys"].get<std::vector<std::string>>();
    if (py_keys != keys[i]) std::printf("note: %s state_dict order differs from Python's\n", names[i].c_str());
    std::sort(py_keys.begin(), py_keys.end());
    std::sort(keys[i].begin(), keys[i].end());
    CHECK(py_keys == keys[i]);
    CHECK(report["not_requiring_grad"].empty());
    CHECK(report["no_grad_after_backward"].empty());
    CHECK(report["num_batches_tracked"] == nlohmann::json::array({1}));
    REQUIRE(report["num_outputs"] == expected[i].size());
    double diff = 0, magnitude = 0;
    for (size_t k = 0; k < expected[i].size(); ++k) {
      const at::Tensor& e = expected[i][k];
      diff = std::max(diff, maxAbsDiff(readFloats(prefix + "." + std::to_string(k) + ".bin", e.sizes()), e));
      magnitude = std::max(magnitude, e.abs().max().item<double>());
    }
    std::printf("torchscript %-20s max |python - executor| = %.3g (max |output| %.3g)", names[i].c_str(), diff,
                magnitude);
    if (report.contains("train_max_abs_diff")) {
      std::printf(", train mode %.3g", report["train_max_abs_diff"].get<double>());
      CHECK(report["train_max_abs_diff"].get<double>() <= 1e-4);
    }
    std::printf("\n");
    CHECK(diff <= 1e-5);
  }
}
