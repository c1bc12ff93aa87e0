// Pruning and quantization combine (the Python original says they can't):
// prune (2:4 N:M) -> qat -> qdq_onnx on the brightness classes. The zeros the
// prune stage leaves survive QAT training (fake quantization keeps zero
// weights at zero and gives them no gradient) and are int8 zeros in the QDQ
// export, conv+BN folding included.
#include <edgeopt/graph_module.h>

#include <ATen/ATen.h>
#include <onnx/onnx_pb.h>

#include "brightness_classes.h"
#include "cli_runner.h"
#include "test_support.h"

#include <cstring>
#include <filesystem>
#include <map>

using namespace edgeopt;
using namespace edgeopt::test;

namespace {

// The int8 weight initializers of a QDQ export, by conv/linear name
// ("<layer>.weight_quant/quantized").
std::map<std::string, at::Tensor> int8Weights(const std::string& file) {
  onnx::ModelProto p;
  REQUIRE(p.ParseFromString(readText(file)));
  std::map<std::string, at::Tensor> out;
  const std::string suffix = ".weight_quant/quantized";
  for (const auto& init : p.graph().initializer()) {
    const std::string& name = init.name();
    if (init.data_type() != onnx::TensorProto::INT8 || name.size() <= suffix.size() ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    std::vector<int64_t> dims(init.dims().begin(), init.dims().end());
    at::Tensor t = at::empty(dims, at::kChar);
    REQUIRE(init.raw_data().size() == static_cast<size_t>(t.numel()));
    std::memcpy(t.data_ptr(), init.raw_data().data(), init.raw_data().size());
    out[name.substr(0, name.size() - suffix.size())] = t;
  }
  return out;
}

}  // namespace

TEST_CASE("prune then qat: the pruned zeros survive QAT and are int8 zeros in the QDQ export", "[prune][stage][quant]") {
  const std::string dir = scratchDir("prune-qat");
  makeBrightnessClasses(dir + "/data", 0, 3);
  writeText(dir + "/r.yaml", R"(version: 1
name: prune-qat
seed: 0
threads: 1
model: {source: zoo, name: mobilenet_v2, num_classes: 3, input_size: 32, width_mult: 0.25}
data:
  dataset: imagenet
  root: data
  batch_size: 8
  workers: 0
  train_transforms: [{resize: 32}, {normalize: {mean: [0.3], std: [0.3]}}]
  val_transforms: [{resize: 32}, {normalize: {mean: [0.3], std: [0.3]}}]
stages:
  - kind: prune
    type: n2m
    n: 2
    m: 4
    epochs: 2
    init_train_epochs: 0
    lr: 0.01
  - kind: qat
    epochs: 2
    lr: 0.01
  - kind: export
    formats: [edgeopt, qdq_onnx]
)");
  CliResult r = runCli("r.yaml --output run", dir, std::string(EDGEOPT_BINARY_DIR) + "/lib/edgeopt/plugins");
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);

  auto pruned = GraphModule::load(dir + "/run/checkpoints/stage-0-prune.edgeopt");
  auto qat = GraphModule::load(dir + "/run/exports/model.edgeopt");
  auto q = int8Weights(dir + "/run/exports/model.qdq.onnx");
  int64_t layers = 0, zeros = 0, extra = 0;
  for (const auto& [name, w] : pruned->namedParameters()) {
    const std::string layer = name.substr(0, name.size() - std::string(".weight").size());
    if (w.dim() < 2 || !q.count(layer) || w.size(1) < 4) continue;  // 2:4 runs along inputs of >= 4
    INFO(layer);
    const at::Tensor mask_zero = w.eq(0);
    REQUIRE(mask_zero.sum().item<int64_t>() == w.numel() / 2);  // 2 of every 4
    // QAT trained the weights, and every pruned zero is still exactly zero.
    CHECK(qat->tensor(name).eq(0).equal(mask_zero));
    // The int8 export has a zero wherever the mask had one.
    const at::Tensor iq = q.at(layer);
    REQUIRE(iq.sizes() == w.sizes());
    CHECK(iq.eq(0).logical_and(mask_zero).equal(mask_zero));
    ++layers;
    zeros += mask_zero.sum().item<int64_t>();
    extra += iq.eq(0).logical_and(mask_zero.logical_not()).sum().item<int64_t>();
  }
  std::printf("prune 2:4 -> qat -> qdq_onnx: %lld layers, %lld pruned zeros all int8 zeros, %lld more from rounding\n",
              static_cast<long long>(layers), static_cast<long long>(zeros), static_cast<long long>(extra));
  CHECK(layers >= 10);
  CHECK(extra * 20 < zeros);  // rounding adds few (weights below half a step)
}
