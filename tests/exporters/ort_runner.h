#pragma once
// Runs exported ONNX files in ONNX Runtime (ort_run.js under Node.js, npm
// onnxruntime-node from tests/tools/ort) and compares them with expected outputs.
#include "export_test_util.h"

#include <string>
#include <vector>

namespace edgeopt::test {

struct OrtCase {
  std::string model, label;
  std::vector<at::Tensor> expected;  // one per graph output
};

inline double maxAbs(const std::vector<at::Tensor>& ts) {
  double m = 0;
  for (const auto& t : ts) m = std::max(m, t.abs().max().item<double>());
  return m;
}

// Runs every case in one Node.js process; returns max |ORT - expected| per
// case over all its outputs.
inline std::vector<double> runInOrt(const std::string& dir, const std::vector<OrtCase>& cases,
                                    const std::string& input, at::IntArrayRef dims) {
  nlohmann::json manifest = {{"threads", 2}, {"optimization", "disabled"}, {"runs", nlohmann::json::array()}};
  for (size_t i = 0; i < cases.size(); ++i)
    manifest["runs"].push_back({{"model", cases[i].model},
                                {"inputs", {{{"name", "x"}, {"file", input}, {"dims", dims.vec()}}}},
                                {"output_prefix", dir + "/ort-" + std::to_string(i)}});
  writeText(dir + "/manifest.json", manifest.dump());
  const std::string cmd = std::string(EDGEOPT_NODE) + " '" EDGEOPT_EXPORTER_TEST_DIR "/ort_run.js' '" +
                          EDGEOPT_ORT_NODE_MODULES + "' '" + dir + "/manifest.json'";
  int rc = runLogged(cmd, dir + "/node.log");
  INFO(readText(dir + "/node.log"));
  REQUIRE(rc == 0);
  std::vector<double> diffs;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string prefix = dir + "/ort-" + std::to_string(i);
    auto report = readJson(prefix + ".json");
    INFO(cases[i].label << ": " << report.dump());
    REQUIRE(!report.contains("error"));
    REQUIRE(report["outputs"].size() == cases[i].expected.size());
    double diff = 0;
    for (size_t k = 0; k < cases[i].expected.size(); ++k) {
      auto out_dims = report["outputs"][k]["dims"].get<std::vector<int64_t>>();
      REQUIRE(out_dims == cases[i].expected[k].sizes().vec());
      const std::string file = prefix + "." + std::to_string(k) + ".bin";
      diff = std::max(diff, maxAbsDiff(readFloats(file, out_dims), cases[i].expected[k]));
    }
    diffs.push_back(diff);
  }
  return diffs;
}

}  // namespace edgeopt::test
