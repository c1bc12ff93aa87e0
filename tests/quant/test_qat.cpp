// QAT semantics: conv_bn_qat equals explicit folding in eval, follows BN's
// batch statistics (and updates the running ones) while BN trains, stops
// after the freeze; the freeze schedule by epoch; the fold for export keeps
// the eval forward; bias calibration pulls quantized means to float ones.
#include "quant_test_util.h"

#include <cstdint>

using namespace edgeopt;
using namespace edgeopt::test;

namespace {

// Output of `node` during one forward.
at::Tensor capture(GraphModule& m, const at::Tensor& x, const std::string& node) {
  at::Tensor out;
  m.forward({x}, [&](const ir::Node& n, const std::vector<at::Tensor>& outputs) {
    if (n.name() == node) out = outputs[0];
  });
  REQUIRE(out.defined());
  return out;
}

}  // namespace

TEST_CASE("conv_bn_qat in eval equals explicit folding (with fake-quantized folded weights)", "[quant][qat]") {
  at::manual_seed(0);
  auto m = tinyNet();
  quant::insertQuantizers(*m, presetOptions("WC8_AT8"));
  m->eval();
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({2, 3, 8, 8});
  const at::Tensor input = capture(*m, x, "x.act_quant");
  const at::Tensor got = capture(*m, x, "conv1");
  // Explicit: w' = w * gamma / sqrt(var + eps), fake-quantized per channel
  // with the quantizer's buffers; b' = beta - mean * gamma / sqrt(var + eps).
  const at::Tensor gamma = m->tensor("bn1.weight"), beta = m->tensor("bn1.bias");
  const at::Tensor factor = gamma / at::sqrt(m->tensor("bn1.running_var") + 1e-5);
  const at::Tensor w = m->tensor("conv1.weight") * factor.reshape({-1, 1, 1, 1});
  const at::Tensor wq = at::fake_quantize_per_channel_affine(w, m->tensor("conv1.weight_quant.scale"),
                                                             m->tensor("conv1.weight_quant.zero_point"), 0, -128, 127);
  // The bias on the int32 grid of input scale x weight scale.
  const at::Tensor bias_scale = m->tensor("x.act_quant.scale") * m->tensor("conv1.weight_quant.scale");
  const at::Tensor bias = at::fake_quantize_per_channel_affine(beta - m->tensor("bn1.running_mean") * factor, bias_scale,
                                                               at::zeros({8}, at::kInt), 0, INT32_MIN, INT32_MAX);
  CHECK(maxAbsDiff(bias, beta - m->tensor("bn1.running_mean") * factor) <= 0.5 * bias_scale.max().item<double>());
  const at::Tensor expected = at::conv2d(input, wq, bias, 1, 1);
  CHECK(maxAbsDiff(got, expected) < 1e-5);
  // Fake-quantization off: the float conv -> BN.
  quant::setFakeQuantEnabled(*m, false);
  const at::Tensor conv = at::conv2d(x, m->tensor("conv1.weight"), {}, 1, 1);
  const at::Tensor bn = at::batch_norm(conv, gamma, beta, m->tensor("bn1.running_mean"), m->tensor("bn1.running_var"),
                                       false, 0.1, 1e-5, true);
  CHECK(maxAbsDiff(capture(*m, x, "conv1"), bn) < 1e-5);
}

TEST_CASE("conv_bn_qat while BN trains: batch statistics, running stats updated like BatchNorm, frozen: folded",
          "[quant][qat]") {
  at::manual_seed(1);
  auto reference = tinyNet();
  auto m = reference->clone();
  quant::insertQuantizers(*m, presetOptions("WC8_AT8"));
  quant::setFakeQuantEnabled(*m, false);
  m->train();
  reference->train();
  const at::Tensor x = at::randn({4, 3, 8, 8});
  const at::Tensor got = capture(*m, x, "conv1");
  const at::Tensor expected = capture(*reference, x, "bn1");
  CHECK(maxAbsDiff(got, expected) < 1e-4);
  CHECK(maxAbsDiff(m->tensor("bn1.running_mean"), reference->tensor("bn1.running_mean")) < 1e-6);
  CHECK(maxAbsDiff(m->tensor("bn1.running_var"), reference->tensor("bn1.running_var")) < 1e-6);
  CHECK(m->tensor("bn1.num_batches_tracked").item<int64_t>() == 1);
  // Frozen: running statistics stay and the output is the folded (eval) one.
  quant::setBatchNormFrozen(*m, true);
  const at::Tensor mean = m->tensor("bn1.running_mean").clone();
  const at::Tensor train_out = capture(*m, x, "conv1");
  CHECK(m->tensor("bn1.running_mean").equal(mean));
  m->eval();
  CHECK(maxAbsDiff(capture(*m, x, "conv1"), train_out) < 1e-5);
}

TEST_CASE("freeze schedule by epoch: TI defaults and explicit epochs, frozen observers keep ranges",
          "[quant][qat]") {
  const auto d = quant::FreezeSchedule::defaults(6);
  CHECK(d.bn_freeze_epoch == 2);
  CHECK(d.observer_freeze_epoch == 4);
  CHECK(quant::FreezeSchedule::defaults(1).bn_freeze_epoch == -1);  // frozen from the start
  auto m = tinyNet();
  quant::insertQuantizers(*m, presetOptions("WC8_AT8"));
  const at::Tensor frozen = m->tensor("conv1.bn_frozen");
  const at::Tensor mode = m->tensor("relu1.act_quant.observer_mode");
  m->train();
  for (int64_t epoch = 0; epoch < 6; ++epoch) {
    quant::applySchedule(*m, d, epoch);
    INFO("epoch " << epoch);
    CHECK(frozen.item<int64_t>() == (epoch >= 2 ? 1 : 0));
    CHECK(mode.item<int64_t>() == (epoch >= 4 ? 0 : 1));
    const at::Tensor scale = m->tensor("relu1.act_quant.scale").clone();
    const at::Tensor mean = m->tensor("bn1.running_mean").clone();
    m->forward({at::randn({2, 3, 8, 8}) * (1.0 + static_cast<double>(epoch))});
    CHECK(m->tensor("relu1.act_quant.scale").equal(scale) == (epoch >= 4));
    CHECK(m->tensor("bn1.running_mean").equal(mean) == (epoch >= 2));
  }
  // Idempotent: resuming at epoch 3 gives epoch 3's switches.
  quant::applySchedule(*m, d, 3);
  CHECK(frozen.item<int64_t>() == 1);
  CHECK(mode.item<int64_t>() == 1);
}

TEST_CASE("fold for export: conv2d with folded weight and bias, same eval output", "[quant][qat]") {
  at::manual_seed(2);
  auto m = tinyNet();
  quant::insertQuantizers(*m, presetOptions("WC8_AT8"));
  m->train();
  for (int i = 0; i < 3; ++i) m->forward({at::randn({4, 3, 8, 8})});  // ranges and BN statistics move
  quant::setObserverMode(*m, quant::ObserverMode::Off);
  m->eval();
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({3, 3, 8, 8});
  const at::Tensor y = m->forward({x})[0];
  auto folded = m->clone();
  quant::foldForExport(*folded);
  CHECK(nodesOf(*folded, "conv_bn_qat").empty());
  CHECK(nodesOf(*folded, "bn_fold_weight").empty());
  CHECK(nodesOf(*folded, "conv2d").size() == 3);
  CHECK(!folded->hasTensor("bn1.running_var"));
  CHECK(folded->hasTensor("conv1.bias"));
  folded->eval();
  const at::Tensor output_scale = paramOf(*m, m->graph().outputs()[0]->producer(), quant::kScale);
  const double lsb = output_scale.item<double>();
  const double diff = maxAbsDiff(folded->forward({x})[0], y);
  INFO("max |folded - qat| = " << diff << " (output LSB " << lsb << ")");
  CHECK(diff <= lsb * 1.001);
}

TEST_CASE("bias calibration moves quantized channel means toward the float model's", "[quant][qat]") {
  at::manual_seed(4);
  auto m = tinyNet();
  quant::QuantizeOptions o = presetOptions("WC4_AT8");  // 4-bit weights: visible mean errors
  quant::insertQuantizers(*m, o);
  calibrateRandom(*m, {8, 3, 8, 8});
  const at::Tensor x = at::randn({16, 3, 8, 8});
  auto reference = m->clone();  // the float model: quantizers off, original biases
  quant::setFakeQuantEnabled(*reference, false);
  at::Tensor f;
  {
    at::NoGradGuard no_grad;
    f = capture(*reference, x, "conv3").mean({0, 2, 3});
  }
  auto meanError = [&] {
    at::NoGradGuard no_grad;
    return (f - capture(*m, x, "conv3").mean({0, 2, 3})).abs().mean().item<double>();
  };
  const double before = meanError();
  quant::BiasCalibrator calibrator(*m);
  for (int i = 0; i < 5; ++i) calibrator.step(x, 0.5);
  const double after = meanError();
  INFO("mean |float - quantized| channel mean: before " << before << ", after " << after);
  CHECK(after < 0.5 * before);
  CHECK(m->tensor("conv1.weight_quant.fake_quant_enabled").item<int64_t>() == 1);  // restored
}

TEST_CASE("bias calibration between QAT steps follows the trained biases (no pull back to the start)",
          "[quant][qat]") {
  at::manual_seed(4);
  auto m = tinyNet();
  quant::insertQuantizers(*m, presetOptions("WC4_AT8"));
  calibrateRandom(*m, {8, 3, 8, 8});
  const at::Tensor x = at::randn({16, 3, 8, 8});
  auto reference = m->clone();  // becomes the float network after the "training" step below
  quant::setFakeQuantEnabled(*reference, false);
  quant::BiasCalibrator calibrator(*m);
  for (int i = 0; i < 5; ++i) calibrator.step(x, 0.5);
  // An optimizer step moves conv3's BN beta, in the float network too.
  {
    at::NoGradGuard no_grad;
    m->tensor("bn3.bias").add_(0.3);
    reference->tensor("bn3.bias").add_(0.3);
  }
  at::Tensor f;
  {
    at::NoGradGuard no_grad;
    f = capture(*reference, x, "conv3").mean({0, 2, 3});
  }
  auto meanError = [&] {
    at::NoGradGuard no_grad;
    return (f - capture(*m, x, "conv3").mean({0, 2, 3})).abs().mean().item<double>();
  };
  for (int i = 0; i < 8; ++i) calibrator.step(x, 0.5);
  // Pulled back to the starting biases, the error would be about the 0.3 step.
  INFO("mean |float - quantized| channel mean after the bias step: " << meanError());
  CHECK(meanError() < 0.03);
}

namespace {

// 60 SGD steps on a learnable toy task; returns (loss before, loss after, eval accuracy).
std::tuple<double, double, double> trainToy(GraphModule& m, int steps) {
  at::manual_seed(6);
  // Class = sign of the mean of channel 0.
  const at::Tensor x = at::randn({64, 3, 8, 8});
  const at::Tensor y = (x.select(1, 0).mean({1, 2}) > 0).to(at::kLong);
  std::vector<at::Tensor> params = m.parameters();
  m.train();
  const double before = at::cross_entropy_loss(m.forward({x})[0], y).item<double>();
  for (int step = 0; step < steps; ++step) {
    for (auto& p : params) p.mutable_grad() = at::Tensor();
    at::cross_entropy_loss(m.forward({x})[0], y).backward();
    at::NoGradGuard no_grad;
    for (auto& p : params)
      if (p.grad().defined()) p.sub_(p.grad() * 0.1);
  }
  m.eval();
  at::NoGradGuard no_grad;
  const at::Tensor logits = m.forward({x})[0];
  return {before, at::cross_entropy_loss(logits, y).item<double>(), logits.argmax(1).eq(y).to(at::kDouble).mean().item<double>()};
}

}  // namespace

TEST_CASE("QAT trains like float training: gradients flow through fake-quantized weights, folded BN, activations",
          "[quant][qat]") {
  at::manual_seed(5);
  auto reference = tinyNet();
  auto m = reference->clone();
  quant::QuantizeOptions o = presetOptions("WC8_AT8");
  // 60 steps: the observers must keep up with the growing logits (TI's and
  // torch.ao's 0.01 is tuned for thousands of steps).
  o.scheme.activation.averaging_constant = 0.2;
  quant::insertQuantizers(*m, o);
  const auto [fb, fa, facc] = trainToy(*reference, 60);
  const auto [qb, qa, qacc] = trainToy(*m, 60);
  INFO("float: loss " << fb << " -> " << fa << ", accuracy " << facc << "; QAT: loss " << qb << " -> " << qa
                      << ", accuracy " << qacc);
  CHECK(m->tensor("bn1.weight").grad().defined());  // BN's gamma learns through the fold
  CHECK(qa < 0.6 * qb);
  CHECK(qacc >= facc - 0.1);
  // The last optimizer step moved the weights after they were observed:
  // refreshWeightRanges re-observes the final (folded) weights.
  const at::Tensor folded = m->tensor("conv1.weight") *
                            (m->tensor("bn1.weight") / at::sqrt(m->tensor("bn1.running_var") + 1e-5)).reshape({-1, 1, 1, 1});
  const at::Tensor expected = folded.detach().abs().reshape({8, -1}).amax(1) / 127.5;
  CHECK(maxAbsDiff(m->tensor("conv1.weight_quant.scale"), expected) > 1e-7);
  quant::refreshWeightRanges(*m);
  CHECK(maxAbsDiff(m->tensor("conv1.weight_quant.scale"), expected) < 1e-7);
}
