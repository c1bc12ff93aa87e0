// Quantizer placement: expected counts on zoo models, fused groups, conv+BN
// fusion's input roles (and its "does not fire" twin), fixed ranges, cat
// inputs sharing a scale (and its twin), matmul inputs symmetric, per-layer
// overrides, presets, pruned zeros.
#include "quant_test_util.h"

#include <edgeopt/config.h>

using namespace edgeopt;
using namespace edgeopt::test;

namespace {

ir::Node* producerOf(const GraphModule& m, const std::string& node) {
  ir::Node* n = m.graph().findNode(node);
  REQUIRE(n != nullptr);
  return n;
}

// The quantizer right after `node` (its only user), or nullptr; for a
// ReLU/ReLU6 the quantizer that absorbed it (fused_activation, named after it).
ir::Node* quantizerAfter(const GraphModule& m, const std::string& node) {
  ir::Node* fused = m.graph().findNode(node + ".act_quant");
  if (fused && !m.graph().findNode(node) && fused->hasAttr("fused_activation")) return fused;
  auto users = producerOf(m, node)->output()->users();
  return users.size() == 1 && users[0]->target() == "fake_quant" ? users[0] : nullptr;
}

}  // namespace

TEST_CASE("placement on mobilenet_v2: 53 weight and 65 activation quantizers, 52 conv+BN folded", "[quant][placement]") {
  auto m = zooNet("mobilenet_v2");
  const quant::QuantizerCounts c = quant::insertQuantizers(*m, presetOptions("WC8_AT8"));
  // weights: 52 convs + the classifier; activations: input, 52 conv groups,
  // 10 residual adds, the average pool, the classifier.
  CHECK(c.weight == 53);
  CHECK(c.activation == 65);
  CHECK(c.fused_conv_bn == 52);
  CHECK(c.fixed == 0);
  CHECK(nodesOf(*m, "batch_norm").empty());
  // conv -> BN -> ReLU6 is one group: the quantizer follows the ReLU6.
  CHECK(quantizerAfter(*m, "features.1.conv.0.2") != nullptr);
  // The group conv -> BN -> ReLU6 has one quantizer, which absorbed the ReLU6.
  CHECK(quantizerAfter(*m, "features.1.conv.0.0") == quantizerAfter(*m, "features.1.conv.0.2"));
  // Weight quantizers are per channel (axis 0) on the folded weight.
  ir::Node* wq = producerOf(*m, "features.0.0.weight_quant");
  CHECK(wq->get<int64_t>("axis") == 0);
  CHECK(wq->input(0)->producer()->target() == "bn_fold_weight");
  CHECK(paramOf(*m, wq, quant::kScale).numel() == 32);
  at::NoGradGuard no_grad;
  m->eval();
  CHECK(m->forward({at::randn({2, 3, 64, 64})})[0].sizes() == at::IntArrayRef({2, 10}));
}

TEST_CASE("placement on resnet18: 21 weight and 31 activation quantizers, add+ReLU fused", "[quant][placement]") {
  auto m = zooNet("resnet18");
  const quant::QuantizerCounts c = quant::insertQuantizers(*m, presetOptions("WC8_AT8"));
  // activations: input, 20 conv groups (incl. 3 downsample), 8 add+ReLU, avgpool, fc.
  CHECK(c.weight == 21);
  CHECK(c.activation == 31);
  CHECK(c.fused_conv_bn == 20);
  for (ir::Node* add : nodesOf(*m, "add")) {
    const ir::Node* fq = add->output()->users()[0];
    CHECK(fq->target() == "fake_quant");
    CHECK(fq->getOr<std::string>("fused_activation", "") == "relu");
  }
  CHECK(nodesOf(*m, "relu").empty());
}

TEST_CASE("placement on the YOLO-style detector: cat inputs share the cat's quantizer", "[quant][placement]") {
  auto m = zooNet("yolov5n", 64);
  const quant::QuantizerCounts c = quant::insertQuantizers(*m, presetOptions("WC8_AT8"));
  CHECK(c.weight == static_cast<int>(nodesOf(*m, "conv_bn_qat").size() + nodesOf(*m, "conv2d").size()));
  CHECK(c.shared > 0);
  for (ir::Node* cat : nodesOf(*m, "cat")) CHECK(cat->output()->users()[0]->target() == "fake_quant");
  at::NoGradGuard no_grad;
  m->eval();
  CHECK(m->forward({at::randn({1, 3, 64, 64})}).size() == 3);
}

TEST_CASE("tiny net: counts, names and buffers, save/load and clone keep the quantizers", "[quant][placement]") {
  at::manual_seed(0);
  auto m = tinyNet();
  const quant::QuantizerCounts c = quant::insertQuantizers(*m, presetOptions("WC8_AT8"));
  CHECK(c.weight == 4);
  CHECK(c.activation == 7);  // input, 3 conv groups, add, avg pool, fc
  CHECK(m->hasTensor("conv1.weight_quant.scale"));
  CHECK(m->isBuffer("conv1.weight_quant.observer_mode"));
  CHECK(m->hasTensor("conv1.bn_frozen"));
  CHECK(quantizerAfter(*m, "relu1") != nullptr);
  CHECK(quantizerAfter(*m, "conv1") == quantizerAfter(*m, "relu1"));  // none inside the group
  CHECK(quant::schemeName(*m) == "WC8_AT8");
  calibrateRandom(*m, {4, 3, 8, 8});
  at::Tensor x = at::randn({2, 3, 8, 8});
  at::NoGradGuard no_grad;
  const at::Tensor y = m->forward({x})[0];
  const std::string path = scratchDir("quant-save") + "/m.edgeopt";
  m->save(path);
  auto loaded = GraphModule::load(path);
  loaded->eval();
  CHECK(loaded->forward({x})[0].equal(y));
  auto copy = m->clone();
  copy->eval();
  CHECK(copy->forward({x})[0].equal(y));
  CHECK_THROWS_WITH(quant::insertQuantizers(*m, presetOptions("WC8_AT8")), Catch::Contains("already has quantizers"));
}

TEST_CASE("fixed ranges for sigmoid, hardsigmoid, softmax (0 to 1) and tanh (-1 to 1), matmul inputs symmetric",
          "[quant][placement]") {
  ir::ModelBuilder b;
  ir::Value* x = b.input("x");
  ir::Value* s = b.sigmoid("sig", x);
  ir::Value* t = b.leaf("th", "Tanh", "tanh", {x});
  ir::Value* sm = b.leaf("sm", "Softmax", "softmax", {x}, {{"dim", int64_t{-1}}});
  ir::Value* mm = b.functional("matmul", {b.add(s, t), sm});
  b.output({mm});
  auto m = b.finish();
  const quant::QuantizerCounts c = quant::insertQuantizers(*m, presetOptions("WC8_AT8"));
  CHECK(c.fixed == 3);
  ir::Node* sq = quantizerAfter(*m, "sig");
  REQUIRE(sq != nullptr);
  CHECK(paramOf(*m, sq, quant::kScale).item<float>() == Approx(1.0 / 255).epsilon(1e-6));
  CHECK(paramOf(*m, sq, quant::kZeroPoint).item<int32_t>() == 0);
  ir::Node* tq = quantizerAfter(*m, "th");
  CHECK(paramOf(*m, tq, quant::kScale).item<float>() == Approx(2.0 / 255).epsilon(1e-6));
  CHECK(paramOf(*m, tq, quant::kZeroPoint).item<int32_t>() == 127);  // -1 / float(2/255) rounds to -127
  CHECK(paramOf(*m, tq, quant::kObserverMode).item<int64_t>() == 0);
  ir::Node* matmul = nodesOf(*m, "matmul").at(0);
  for (ir::Value* in : matmul->inputs()) {
    ir::Node* q = in->producer();
    REQUIRE(q->target() == "fake_quant");
    CHECK(q->get<bool>("symmetric"));
    CHECK(q->get<int64_t>("quant_min") == -128);
  }
  quant::setObserverMode(*m, quant::ObserverMode::Always);
  CHECK(paramOf(*m, tq, quant::kObserverMode).item<int64_t>() == 0);  // fixed stays fixed
}

TEST_CASE("cat: single-use input quantizers merge into the cat's, a shared input keeps its own", "[quant][placement]") {
  for (bool extra_user : {false, true}) {
    ir::ModelBuilder b;
    ir::Value* x = b.input("x");
    ir::Value* a = b.conv2d("a", x, ir::Conv2dOptions(3, 4, 1));
    ir::Value* c = b.conv2d("c", x, ir::Conv2dOptions(3, 4, 1));
    ir::Value* cat = b.functional("cat", {a, c}, {{"dim", int64_t{1}}});
    std::vector<ir::Value*> outs = {b.conv2d("d", cat, ir::Conv2dOptions(8, 2, 1))};
    if (extra_user) outs.push_back(b.conv2d("e", a, ir::Conv2dOptions(4, 2, 1)));
    b.output(outs);
    auto m = b.finish();
    const quant::QuantizerCounts counts = quant::insertQuantizers(*m, presetOptions("WC8_AT8"));
    INFO("extra user of a: " << extra_user);
    CHECK(counts.shared == (extra_user ? 1 : 2));
    CHECK((quantizerAfter(*m, "a") != nullptr) == extra_user);
    CHECK(quantizerAfter(*m, "c") == nullptr);
    CHECK(quantizerAfter(*m, nodesOf(*m, "cat")[0]->name()) != nullptr);
  }
}

TEST_CASE("conv -> BN becomes conv_bn_qat with its inputs at their roles, a conv read elsewhere keeps its BN",
          "[quant][placement]") {
  for (bool extra_user : {false, true}) {
    INFO("extra user of the conv: " << extra_user);
    ir::ModelBuilder b;
    ir::Value* x = b.input("x");
    ir::Value* conv = b.conv2d("conv", x, ir::Conv2dOptions(3, 4, 3).padding(1));
    std::vector<ir::Value*> outs = {b.batchNorm2d("bn", conv, 4)};
    if (extra_user) outs.push_back(b.relu("r", conv));
    b.output(outs);
    auto m = b.finish();
    const quant::QuantizerCounts c = quant::insertQuantizers(*m, presetOptions("WC8_AT8"));
    CHECK(c.fused_conv_bn == (extra_user ? 0 : 1));
    CHECK(nodesOf(*m, "batch_norm").size() == (extra_user ? 1u : 0u));
    if (extra_user) continue;
    ir::Node* f = producerOf(*m, "conv");
    REQUIRE(f->target() == "conv_bn_qat");
    auto tensorAt = [&](size_t i) { return f->input(i)->producer()->target(); };
    CHECK(f->input(quant::kConvBnX)->producer()->target() == "fake_quant");  // the input quantizer
    CHECK(f->input(quant::kConvBnWeight)->producer()->name() == "conv.weight_quant");
    CHECK(tensorAt(quant::kConvBnGamma) == "bn.weight");
    CHECK(tensorAt(quant::kConvBnBeta) == "bn.bias");
    CHECK(tensorAt(quant::kConvBnRunningMean) == "bn.running_mean");
    CHECK(tensorAt(quant::kConvBnRunningVar) == "bn.running_var");
    CHECK(tensorAt(quant::kConvBnFrozen) == "conv.bn_frozen");
    const quant::ConvBnQatInputs in = quant::ConvBnQatInputs::of(*f);
    CHECK(f->numInputs() == in.count);
    CHECK(tensorAt(in.bias) == "conv.bias");
    CHECK(tensorAt(in.num_batches_tracked) == "bn.num_batches_tracked");
    CHECK(tensorAt(in.input_scale) == "x.act_quant.scale");
    CHECK(tensorAt(in.weight_scale) == "conv.weight_quant.scale");
    CHECK(tensorAt(in.enabled) == "conv.weight_quant.fake_quant_enabled");
  }
}

TEST_CASE("overrides: selected layers get 16-bit weights and activations", "[quant][placement]") {
  auto m = tinyNet();
  quant::QuantizeOptions o = presetOptions("WC8_AT8");
  OptionSchema schema;
  quant::addOverrideOptions(schema);
  const Options opts = schema.validate(
      ConfigNode::parse("overrides: [{layers: [conv1, fc], weight_bits: 16, activation_bits: 16}]", "r.yaml"), "stages.0");
  o.overrides = quant::overridesFromOptions(opts);
  quant::insertQuantizers(*m, o);
  CHECK(producerOf(*m, "conv1.weight_quant")->get<int64_t>("quant_min") == -32768);
  CHECK(producerOf(*m, "conv2.weight_quant")->get<int64_t>("quant_min") == -128);
  CHECK(quantizerAfter(*m, "relu1")->get<int64_t>("quant_max") == 32767);  // conv1's group output
  CHECK(quantizerAfter(*m, "fc")->get<int64_t>("quant_max") == 32767);
  CHECK(quantizerAfter(*m, "relu2")->get<int64_t>("quant_max") == 255);
  auto bad = schema.validate(ConfigNode::parse("overrides: [{layers: [nope], weight_bits: 16}]", "r.yaml"), "stages.0");
  auto m2 = tinyNet();
  quant::QuantizeOptions o2 = presetOptions("WC8_AT8");
  o2.overrides = quant::overridesFromOptions(bad);
  CHECK_THROWS_AS(quant::insertQuantizers(*m2, o2), RecipeError);
}

TEST_CASE("presets: grids, power-of-2 flags, R4 really fixes activations to plus-minus 4", "[quant][placement]") {
  for (const auto& name : quant::presetNames()) {
    INFO(name);
    auto m = tinyNet();
    REQUIRE_NOTHROW(quant::insertQuantizers(*m, presetOptions(name)));
    calibrateRandom(*m, {2, 3, 8, 8}, 1);
  }
  auto m = tinyNet();
  quant::insertQuantizers(*m, presetOptions("WC8SYMP2_AT8SYMP2R4"));
  for (ir::Node* q : nodesOf(*m, "fake_quant")) {
    if (q->get<std::string>("role") != "activation") continue;
    CHECK(q->get<std::string>("observer") == "fixed");
    CHECK(paramOf(*m, q, quant::kScale).item<float>() == 0.03125f);  // 4 / 128 = 2^-5
  }
  const quant::Scheme wc4m4 = quant::presetScheme("WC4M4_AT8");
  CHECK(wc4m4.weight.quantMin() == -8);
  CHECK(wc4m4.weight.range_max == 4.0);
  CHECK(quant::presetScheme("WC16_AT16").activation.quantMax() == 32767);
  CHECK(quant::presetScheme("WT8SYMP2_AT8SYMP2").weight.per_channel == false);
  CHECK_THROWS_WITH(quant::presetScheme("WC9_AT8"), Catch::Contains("WC8_AT8"));
}

TEST_CASE("custom scheme in YAML, malformed options are RecipeErrors at their location", "[quant][recipe]") {
  OptionSchema schema;
  quant::addSchemeOptions(schema);
  auto parse = [&](const std::string& yaml) {
    return quant::schemeFromOptions(schema.validate(ConfigNode::parse(yaml, "r.yaml"), "stages.1"));
  };
  const quant::Scheme s = parse("scheme: {base: WC8_AT8, weight: {bits: 4, power_of_2: true},\n"
                                "         activation: {symmetric: true, observer: histogram, range_search: mse}}");
  CHECK(s.weight.bits == 4);
  CHECK(s.weight.per_channel);
  CHECK(s.weight.power_of_2);
  CHECK(s.activation.symmetric);
  CHECK(s.activation.observer == quant::ObserverKind::Histogram);
  CHECK(s.name == "custom(WC8_AT8)");
  CHECK_THROWS_WITH(parse("scheme:\n  weight: {bits: 9}"),
                    Catch::Contains("r.yaml:2:18") && Catch::Contains("stages.1.scheme.weight.bits"));
  CHECK_THROWS_WITH(parse("scheme:\n  activation: {fixed_range: true}"),
                    Catch::Contains("r.yaml:2:") && Catch::Contains("needs range_max"));
  CHECK_THROWS_WITH(parse("scheme:\n  activation: {per_channel: true}"), Catch::Contains("per tensor"));
  CHECK_THROWS_WITH(parse("scheme:\n  weight: {bitz: 8}"), Catch::Contains("stages.1.scheme.weight"));
  CHECK_THROWS_AS(parse("preset: WC3_AT8"), RecipeError);
}

TEST_CASE("pruned zeros survive placement and a QAT step", "[quant][placement]") {
  at::manual_seed(3);
  auto m = tinyNet();
  at::Tensor w = m->tensor("conv1.weight");
  {
    at::NoGradGuard no_grad;
    w.mul_(at::rand_like(w).gt(0.5));
  }
  const at::Tensor zeros = w.eq(0).clone();
  REQUIRE(zeros.sum().item<int64_t>() > 50);
  quant::insertQuantizers(*m, presetOptions("WC8_AT8"));
  CHECK(producerOf(*m, "conv1.weight_quant")->get<bool>("preserve_zeros"));
  m->train();
  at::Tensor x = at::randn({4, 3, 8, 8});
  at::Tensor loss = m->forward({x})[0].pow(2).mean();
  loss.backward();
  CHECK(w.grad().masked_select(zeros).abs().max().item<float>() == 0.f);
  {
    at::NoGradGuard no_grad;
    for (const auto& p : m->parameters())
      if (p.grad().defined()) p.sub_(p.grad() * 0.1 + p * 1e-4);  // SGD + weight decay
  }
  CHECK(m->tensor("conv1.weight").masked_select(zeros).abs().max().item<float>() == 0.f);
}
