// QDQ ONNX export: structure (int8 per-channel weights, int32 biases, Q/DQ
// activations, metadata, opsets) and parity in ONNX Runtime (graph
// optimizations off, via tests/exporters/ort_run.js) with EdgeOpt's own
// fake-quant eval forward: max difference in LSBs of the output scale and
// top-1 agreement. Also the TorchScript export of a quantized model.
#include "quant_test_util.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>

#include <cstdio>
#include <map>
#include <set>

using namespace edgeopt;
using namespace edgeopt::test;

namespace {

struct Parity {
  double max_diff = 0;
  double agreement = 0;
};

std::map<std::string, int> opCounts(const onnx::ModelProto& p) {
  std::map<std::string, int> c;
  for (const auto& n : p.graph().node()) ++c[n.op_type()];
  return c;
}

std::map<int, int> initializerTypes(const onnx::ModelProto& p) {
  std::map<int, int> c;
  for (const auto& t : p.graph().initializer()) ++c[t.data_type()];
  return c;
}

std::string metadata(const onnx::ModelProto& p, const std::string& key) {
  for (const auto& m : p.metadata_props())
    if (m.key() == key) return m.value();
  return "";
}

struct Case {
  std::string label, preset, path;
  std::shared_ptr<GraphModule> model;
  at::Tensor expected;
  double lsb = 0;
};

Case prepare(const std::string& dir, const std::string& zoo_name, const std::string& preset, int opset,
             const at::Tensor& x) {
  Case c{zoo_name + " " + preset + " opset " + std::to_string(opset), preset, dir + "/" + zoo_name + "-" + preset + ".onnx"};
  c.model = zooModel(zoo_name);  // random weights, BN statistics calibrated on random data
  quant::insertQuantizers(*c.model, presetOptions(preset));
  calibrateRandom(*c.model, {8, 3, 64, 64}, 3);
  at::NoGradGuard no_grad;
  c.expected = c.model->forward({x})[0];
  c.lsb = paramOf(*c.model, c.model->graph().outputs()[0]->producer(), quant::kScale).item<double>();
  // libonnx 1.12 checks opsets up to 17; ONNX Runtime runs 18.
  const std::string options = "{opset: " + std::to_string(opset) + (opset > 17 ? ", check: false}" : "}");
  REQUIRE_NOTHROW(makeExporter("qdq_onnx", options)->write(*c.model, c.path));
  return c;
}

}  // namespace

TEST_CASE("QDQ export of mobilenet_v2 and resnet18: structure, checker, and ONNX Runtime parity with the "
          "fake-quant simulation",
          "[quant][onnx]") {
  loadBuiltinPlugin("quant");
  const std::string dir = scratchDir("qdq-zoo");
  at::manual_seed(7);
  const at::Tensor x = at::randn({32, 3, 64, 64});
  std::vector<Case> cases;
  cases.push_back(prepare(dir, "mobilenet_v2", "WC8_AT8", 17, x));
  cases.push_back(prepare(dir, "resnet18", "WC8_AT8", 13, x));
  cases.push_back(prepare(dir, "resnet18", "WC8SYMP2_AT8SYMP2", 18, x));
  for (const Case& c : cases) {
    INFO(c.label);
    onnx::ModelProto p;
    REQUIRE(p.ParseFromString(readText(c.path)));
    if (c.label.find("opset 18") == std::string::npos) REQUIRE_NOTHROW(onnx::checker::check_model(p));
    CHECK(metadata(p, "edgeopt_quantization") == c.preset);
    CHECK(p.producer_name() == "EdgeOpt");
    const quant::QuantizerCounts q = quant::countQuantizers(*c.model);
    const auto ops = opCounts(p);
    const auto types = initializerTypes(p);
    const size_t layers = nodesOf(*c.model, "conv_bn_qat").size() + nodesOf(*c.model, "conv2d").size() +
                          nodesOf(*c.model, "linear").size();
    CHECK(types.at(onnx::TensorProto::INT8) >= q.weight);  // weights (+ int8 zero points with symmetric activations)
    CHECK(types.at(onnx::TensorProto::INT32) == static_cast<int>(2 * layers));  // biases and their zero points
    CHECK(ops.at("QuantizeLinear") == q.activation);
    CHECK(ops.at("DequantizeLinear") == q.activation + q.weight + static_cast<int>(layers));
    CHECK(ops.count("BatchNormalization") == 0);
    std::set<std::string> inits;
    for (const auto& t : p.graph().initializer()) inits.insert(t.name());
    for (const auto& n : p.graph().node())
      if (n.op_type() == "DequantizeLinear" && inits.count(n.input(0)) && n.input(0).find("bias") == std::string::npos) {
        bool axis0 = false;
        for (const auto& a : n.attribute()) axis0 = axis0 || (a.name() == "axis" && a.i() == 0);
        if (c.preset == "WC8_AT8") CHECK(axis0);
      }
  }
  std::vector<std::string> paths;
  for (const Case& c : cases) paths.push_back(c.path);
  const std::vector<at::Tensor> ort = runInOrt(dir, paths, x);
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const double diff = maxAbsDiff(ort[i], c.expected);
    const double agree = ort[i].argmax(1).eq(c.expected.argmax(1)).to(at::kDouble).mean().item<double>();
    const double within = ((ort[i] - c.expected).abs() <= 1.001 * c.lsb).to(at::kDouble).mean().item<double>();
    std::printf("qdq %-36s max |ORT - EdgeOpt| = %.3g = %.2f LSB of the output scale %.3g; %.1f %% of logits within "
                "1 LSB; top-1 agreement %.1f %%\n",
                c.label.c_str(), diff, diff / c.lsb, c.lsb, 100 * within, 100 * agree);
    INFO(c.label << ": " << diff / c.lsb << " LSB, agreement " << agree);
    // The graphs compute the same integers: layer by layer the first layers
    // match exactly (int32 biases simulated, weights quantized alike). What
    // remains are rare rounding flips where ORT's float convolutions sum in
    // another order than oneDNN's; an untrained network amplifies them with
    // depth (mobilenet_v2's 17 residual blocks), a trained one far less.
    const double max_lsb = c.label.rfind("mobilenet_v2", 0) == 0 ? 16 : 2;
    CHECK(diff <= (max_lsb + 0.001) * c.lsb);
    CHECK(agree >= 0.99);
  }
}

TEST_CASE("QDQ export: 16-bit and 4-bit schemes, errors", "[quant][onnx]") {
  loadBuiltinPlugin("quant");
  const std::string dir = scratchDir("qdq-bits");
  at::manual_seed(8);
  const at::Tensor x = at::randn({4, 3, 8, 8});
  std::vector<std::string> paths;
  std::vector<std::pair<at::Tensor, double>> expected;
  for (const std::string preset : {"WC4_AT8", "WC16_AT16"}) {
    auto m = tinyNet();
    quant::insertQuantizers(*m, presetOptions(preset));
    calibrateRandom(*m, {8, 3, 8, 8}, 2);
    at::NoGradGuard no_grad;
    expected.emplace_back(m->forward({x})[0], paramOf(*m, m->graph().outputs()[0]->producer(), quant::kScale).item<double>());
    paths.push_back(dir + "/" + preset + ".onnx");
    INFO(preset);
    REQUIRE_NOTHROW(makeExporter("qdq_onnx")->write(*m, paths.back()));
  }
  const std::vector<at::Tensor> ort = runInOrt(dir, paths, x);
  for (size_t i = 0; i < ort.size(); ++i) {
    const double lsb_diff = maxAbsDiff(ort[i], expected[i].first) / expected[i].second;
    std::printf("qdq tiny net %-10s max |ORT - EdgeOpt| = %.2f LSB\n", i == 0 ? "WC4_AT8" : "WC16_AT16", lsb_diff);
    CHECK(lsb_diff <= 2.001);
  }
  auto plain = tinyNet();
  CHECK_THROWS_WITH(makeExporter("qdq_onnx")->write(*plain, dir + "/plain.onnx"), Catch::Contains("no quantizers"));
}

TEST_CASE("a quantized model exports to TorchScript and to plain ONNX with the same eval output", "[quant][onnx]") {
  loadBuiltinPlugin("torchscript_export");
  loadBuiltinPlugin("onnx_export");
  const std::string dir = scratchDir("quant-ts");
  at::manual_seed(9);
  auto m = tinyNet();
  quant::insertQuantizers(*m, presetOptions("WC8_AT8"));
  calibrateRandom(*m, {8, 3, 8, 8}, 2);
  m->eval();
  const at::Tensor x = at::randn({4, 3, 8, 8});
  at::Tensor expected;
  {
    at::NoGradGuard no_grad;
    expected = m->forward({x})[0];
  }
  const double lsb = paramOf(*m, m->graph().outputs()[0]->producer(), quant::kScale).item<double>();
  REQUIRE_NOTHROW(makeExporter("torchscript")->write(*m, dir + "/m.pt"));
  torch::jit::Module ts = torch::jit::load(dir + "/m.pt");
  ts.eval();
  at::NoGradGuard no_grad;
  const at::Tensor got = ts.forward({x}).toTensor();
  CHECK(maxAbsDiff(got, expected) <= 1.001 * lsb);
  // The float `onnx` exporter handles the QAT ops too (Q/DQ on float weights).
  REQUIRE_NOTHROW(makeExporter("onnx")->write(*m, dir + "/m.onnx"));
  const at::Tensor ort = runInOrt(dir, {dir + "/m.onnx"}, x)[0];
  CHECK(maxAbsDiff(ort, expected) <= 1.001 * lsb);
}


TEST_CASE("QDQ export with tidl_names: short legal unique names, ONNX Runtime output unchanged", "[quant][onnx]") {
  loadBuiltinPlugin("quant");
  const std::string dir = scratchDir("qdq-tidl-names");
  at::manual_seed(9);
  const at::Tensor x = at::randn({4, 3, 64, 64});
  auto m = zooModel("mobilenet_v2");
  quant::insertQuantizers(*m, presetOptions("WC8_AT8"));
  calibrateRandom(*m, {8, 3, 64, 64}, 2);
  REQUIRE_NOTHROW(makeExporter("qdq_onnx")->write(*m, dir + "/plain.onnx"));
  REQUIRE_NOTHROW(makeExporter("qdq_onnx", "{tidl_names: true}")->write(*m, dir + "/tidl.onnx"));
  onnx::ModelProto plain, tidl;
  REQUIRE(plain.ParseFromString(readText(dir + "/plain.onnx")));
  REQUIRE(tidl.ParseFromString(readText(dir + "/tidl.onnx")));
  REQUIRE_NOTHROW(onnx::checker::check_model(tidl));
  CHECK(opCounts(tidl) == opCounts(plain));
  auto legal = [](const std::string& s) {
    if (s.empty() || s.size() > 24) return false;
    for (char c : s)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
    return true;
  };
  std::set<std::string> values, nodes;
  size_t illegal = 0, long_before = 0;
  for (const auto& t : tidl.graph().initializer()) {
    illegal += !legal(t.name());
    CHECK(values.insert(t.name()).second);
  }
  for (const auto& n : tidl.graph().node()) {
    illegal += !legal(n.name());
    CHECK(nodes.insert(n.name()).second);
    for (const auto& out : n.output()) {
      illegal += !legal(out);
      CHECK(values.insert(out).second);  // SSA: one producer per name, none an initializer's
    }
  }
  for (const auto& n : plain.graph().node())
    for (const auto& out : n.output()) long_before += !legal(out);
  CHECK(illegal == 0);
  CHECK(long_before > 0);  // the plain export's names are the long module paths
  CHECK(tidl.graph().input(0).name() == plain.graph().input(0).name());
  CHECK(tidl.graph().output(0).name() == plain.graph().output(0).name());
  const std::vector<at::Tensor> ort = runInOrt(dir, {dir + "/plain.onnx", dir + "/tidl.onnx"}, x);
  CHECK(at::equal(ort[0], ort[1]));
}
