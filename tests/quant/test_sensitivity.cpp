// Per-layer quantization sensitivity (quant/sensitivity.h): the layer made
// 2-bit ranks first, the scores equal the same measurements made directly
// by switching quantizers, every quantizer belongs to exactly one layer, and
// the model is left exactly as it was.
#include "quant_test_util.h"

#include <edgeopt/config.h>
#include <edgeopt/options.h>
#include <edgeopt/quant/sensitivity.h>

#include <cmath>
#include <map>
#include <set>

using namespace edgeopt;
using namespace edgeopt::test;

namespace {

std::vector<at::Tensor> forwardAll(GraphModule& m, const std::vector<at::Tensor>& batches) {
  std::vector<at::Tensor> out;
  for (const auto& b : batches) out.push_back(m.forward({b})[0]);
  return out;
}

// The SQNR written out again, independently of the library's.
double directSqnr(const std::vector<at::Tensor>& ref, const std::vector<at::Tensor>& out) {
  const at::Tensor r = at::cat(ref).to(at::kDouble), x = at::cat(out).to(at::kDouble);
  return 10 * std::log10(r.pow(2).sum().item<double>() / (x - r).pow(2).sum().item<double>());
}

double directAgreement(const std::vector<at::Tensor>& ref, const std::vector<at::Tensor>& out) {
  const at::Tensor r = at::cat(ref), x = at::cat(out);
  return 100.0 * x.argmax(1).eq(r.argmax(1)).sum().item<double>() / static_cast<double>(r.size(0));
}

void setEnabled(GraphModule& m, const std::vector<std::string>& quantizers, bool on) {
  for (const auto& q : quantizers) m.tensor(q + ".fake_quant_enabled").fill_(on ? 1 : 0);
}

}  // namespace

TEST_CASE("sensitivity: a 2-bit layer ranks first and the scores equal direct measurements", "[quant][sensitivity]") {
  at::manual_seed(0);
  auto m = tinyNet();
  quant::QuantizeOptions o = presetOptions("WC8_AT8");
  OptionSchema schema;
  quant::addOverrideOptions(schema);
  o.overrides = quant::overridesFromOptions(schema.validate(
      ConfigNode::parse("overrides: [{layers: [conv2], weight_bits: 2, activation_bits: 2}]", "r.yaml"), "stages.0"));
  quant::insertQuantizers(*m, o);
  at::NoGradGuard no_grad;
  m->eval();
  quant::setObserverMode(*m, quant::ObserverMode::Always);
  for (int i = 0; i < 4; ++i) m->forward({at::randn({16, 3, 8, 8})});
  quant::finalizeObservers(*m);
  quant::setObserverMode(*m, quant::ObserverMode::Off);
  m->train();  // the guard must put the training flag back too

  const std::vector<at::Tensor> batches = {at::randn({16, 3, 8, 8}), at::randn({16, 3, 8, 8})};
  std::map<std::string, at::Tensor> before;
  for (const auto& [name, t] : m->stateDict()) before[name] = t.clone();

  const quant::SensitivityResult r = quant::measureSensitivity(*m, batches);

  // Left as it was: every tensor bit for bit (switches included), the training flag.
  CHECK(m->isTraining());
  for (const auto& [name, t] : m->stateDict()) {
    INFO(name);
    CHECK(at::equal(t, before.at(name)));
  }

  // Every quantizer in exactly one layer; conv2's layer holds its weight
  // quantizer and its group's output quantizer (after relu2).
  std::multiset<std::string> listed;
  for (const auto& l : r.layers) listed.insert(l.quantizers.begin(), l.quantizers.end());
  std::multiset<std::string> all;
  for (const ir::Node* n : m->graph().nodes())
    if (n->opcode() == ir::Opcode::Call && n->target() == "fake_quant") all.insert(n->name());
  CHECK(listed == all);
  CHECK(r.examples == 32);
  REQUIRE(r.has_agreement);
  REQUIRE(r.layers.size() >= 5);
  CHECK(r.layers[0].layer == "conv2");
  CHECK(std::set<std::string>(r.layers[0].quantizers.begin(), r.layers[0].quantizers.end()) ==
        std::set<std::string>{"conv2.weight_quant", "relu2.act_quant"});
  for (size_t i = 1; i < r.layers.size(); ++i) CHECK(r.layers[i - 1].only_sqnr_db <= r.layers[i].only_sqnr_db);
  // 2 bits cost far more than 8 (about 6 dB a bit for the layer itself; the
  // model's output shows less): more than 6 dB below the next layer alone.
  CHECK(r.layers[0].only_sqnr_db + 6 < r.layers[1].only_sqnr_db);

  // The same numbers measured directly.
  m->eval();
  std::vector<std::string> names(all.begin(), all.end());
  setEnabled(*m, names, false);
  const auto reference = forwardAll(*m, batches);
  setEnabled(*m, names, true);
  const auto quantized = forwardAll(*m, batches);
  CHECK(r.sqnr_db == Approx(directSqnr(reference, quantized)).epsilon(1e-9));
  CHECK(r.agreement == Approx(directAgreement(reference, quantized)));
  for (const auto& l : {r.layers[0], r.layers[1]}) {
    INFO(l.layer);
    setEnabled(*m, names, false);
    setEnabled(*m, l.quantizers, true);
    const auto only = forwardAll(*m, batches);
    CHECK(l.only_sqnr_db == Approx(directSqnr(reference, only)).epsilon(1e-9));
    CHECK(l.only_agreement == Approx(directAgreement(reference, only)));
    setEnabled(*m, names, true);
    setEnabled(*m, l.quantizers, false);
    const auto all_but = forwardAll(*m, batches);
    CHECK(l.all_but_sqnr_db == Approx(directSqnr(reference, all_but)).epsilon(1e-9));
    CHECK(l.all_but_agreement == Approx(directAgreement(reference, all_but)));
  }
  setEnabled(*m, names, true);
  // Leaving the 2-bit layer float recovers most of the error.
  CHECK(r.layers[0].all_but_sqnr_db > r.sqnr_db + 10);
}

TEST_CASE("sensitivity: identical outputs score the ceiling and a float model is refused", "[quant][sensitivity]") {
  const std::vector<at::Tensor> a = {at::randn({4, 10})};
  CHECK(quant::sqnrDb(a, a) == quant::kExactSqnrDb);
  CHECK(quant::sqnrDb(a, {a[0] * 1.1}) == Approx(20.0).margin(1e-9));  // noise 0.01 x signal
  auto m = tinyNet();
  CHECK_THROWS_WITH(quant::measureSensitivity(*m, {at::randn({2, 3, 8, 8})}),
                    Catch::Contains("the model has no quantizers"));
}

namespace {

// tinyNet with `overrides` (a YAML list), calibrated on random batches.
std::shared_ptr<GraphModule> calibratedTinyNet(const std::string& preset, const std::string& overrides) {
  at::manual_seed(0);
  auto m = tinyNet();
  quant::QuantizeOptions o = presetOptions(preset);
  if (!overrides.empty()) {
    OptionSchema schema;
    quant::addOverrideOptions(schema);
    o.overrides = quant::overridesFromOptions(
        schema.validate(ConfigNode::parse("overrides: " + overrides, "r.yaml"), "stages.0"));
  }
  quant::insertQuantizers(*m, o);
  at::NoGradGuard no_grad;
  m->eval();
  quant::setObserverMode(*m, quant::ObserverMode::Always);
  for (int i = 0; i < 4; ++i) m->forward({at::randn({16, 3, 8, 8})});
  quant::finalizeObservers(*m);
  quant::setObserverMode(*m, quant::ObserverMode::Off);
  return m;
}

}  // namespace

TEST_CASE("float agreement: exact counts against quantizers switched by hand", "[quant][sensitivity]") {
  // Every layer at 2 bits: some of the 48 images change class, not all.
  auto m = calibratedTinyNet("WC8_AT8", "[{layers: ['re:.*'], weight_bits: 2, activation_bits: 2}]");
  m->train();  // put back when the counter is destroyed
  std::map<std::string, at::Tensor> before;
  for (const auto& [name, t] : m->stateDict()) before[name] = t.clone();
  const std::vector<at::Tensor> batches = {at::randn({16, 3, 8, 8}), at::randn({16, 3, 8, 8}),
                                           at::randn({16, 3, 8, 8})};
  std::vector<at::Tensor> outputs;
  int64_t examples = 0, same = 0;
  double percent = 0;
  {
    quant::FloatAgreement agreement(*m);
    CHECK(agreement.percent() == 0);
    for (const auto& b : batches) outputs.push_back(agreement.forward(b).at(0));
    examples = agreement.examples();
    same = agreement.same();
    percent = agreement.percent();
  }
  CHECK(m->isTraining());
  for (const auto& [name, t] : m->stateDict()) {
    INFO(name);
    CHECK(at::equal(t, before.at(name)));
  }
  // The same count made directly: every quantizer off, then on.
  std::vector<std::string> names;
  for (const ir::Node* n : m->graph().nodes())
    if (n->opcode() == ir::Opcode::Call && n->target() == "fake_quant") names.push_back(n->name());
  m->eval();
  at::NoGradGuard no_grad;
  setEnabled(*m, names, false);
  const auto reference = forwardAll(*m, batches);
  setEnabled(*m, names, true);
  const auto quantized = forwardAll(*m, batches);
  const int64_t direct = at::cat(quantized).argmax(1).eq(at::cat(reference).argmax(1)).sum().item<int64_t>();
  CHECK(examples == 48);
  CHECK(same == direct);
  CHECK(percent == Approx(100.0 * static_cast<double>(direct) / 48.0).epsilon(1e-12));
  CHECK(same < 48);  // 2 bits change some classes: the count is not 100 % by construction
  CHECK(same > 0);
  // It hands back the quantized outputs.
  for (size_t i = 0; i < batches.size(); ++i) CHECK(at::allclose(outputs[i], quantized[i], 1e-5, 1e-6));
}

TEST_CASE("float agreement: 100 % at 16 bits and a float model refused", "[quant][sensitivity]") {
  auto m = calibratedTinyNet("WC16_AT16", "");
  quant::FloatAgreement agreement(*m);
  for (int i = 0; i < 4; ++i) agreement.forward(at::randn({32, 3, 8, 8}));
  CHECK(agreement.examples() == 128);
  CHECK(agreement.same() == 128);
  CHECK(agreement.percent() == 100.0);
  auto plain = tinyNet();
  CHECK_THROWS_WITH(quant::FloatAgreement(*plain), Catch::Contains("float agreement: the model has no quantizers"));
}

TEST_CASE("sensitivity: a Hardswish after a quantized conv is named by itself as overrides select it",
          "[quant][sensitivity]") {
  // conv -> BN -> Hardswish (MobileNetV3's stem): placement quantizes the
  // conv group's output and the Hardswish's. The Hardswish's quantizer is
  // its own layer, named "hs1", not after the quantizer before it
  // ("conv1.act_quant", which no selector can name before quantization).
  auto build = [] {
    at::manual_seed(0);
    ir::ModelBuilder b;
    ir::Value* x = b.input("x");
    x = b.conv2d("conv1", x, ir::Conv2dOptions(3, 8, 3).padding(1).bias(false));
    x = b.batchNorm2d("bn1", x, 8);
    x = b.hardswish("hs1", x);
    x = b.functional("adaptive_avg_pool2d", {x}, {{"output_size", ir::Ints{1, 1}}});
    x = b.flatten("flatten", x);
    x = b.linear("fc", x, 8, 5);
    b.output({x});
    auto m = b.finish();
    m->setExampleInputShapes({{1, 3, 8, 8}});
    return m;
  };
  auto m = build();
  quant::insertQuantizers(*m, presetOptions("WC8_AT8"));
  {
    at::NoGradGuard no_grad;
    m->eval();
    quant::setObserverMode(*m, quant::ObserverMode::Always);
    for (int i = 0; i < 2; ++i) m->forward({at::randn({8, 3, 8, 8})});
    quant::finalizeObservers(*m);
  }
  const quant::SensitivityResult r = quant::measureSensitivity(*m, {at::randn({8, 3, 8, 8})});
  std::map<std::string, std::vector<std::string>> layers;
  for (const auto& l : r.layers) layers[l.layer] = l.quantizers;
  REQUIRE(layers.count("hs1") == 1);
  CHECK(layers["hs1"] == std::vector<std::string>{"hs1.act_quant"});
  REQUIRE(layers.count("conv1") == 1);
  CHECK(layers["conv1"] == std::vector<std::string>{"conv1.weight_quant", "conv1.act_quant"});
  for (const auto& [name, q] : layers) CHECK(name.find("act_quant") == std::string::npos);
  // The name is a selector the overrides take: hs1's quantizer at 16 bits.
  OptionSchema schema;
  quant::addOverrideOptions(schema);
  quant::QuantizeOptions o = presetOptions("WC8_AT8");
  o.overrides = quant::overridesFromOptions(
      schema.validate(ConfigNode::parse("overrides: [{layers: [hs1], activation_bits: 16}]", "r.yaml"), "stages.0"));
  auto m16 = build();
  quant::insertQuantizers(*m16, o);
  const ir::Node* hs = nullptr;
  for (const ir::Node* n : m16->graph().nodes())
    if (n->name() == "hs1.act_quant") hs = n;
  REQUIRE(hs != nullptr);
  // 16 bits: 65,536 levels (signed here: a Hardswish output can be negative).
  CHECK(hs->getOr<int64_t>("quant_max", 0) - hs->getOr<int64_t>("quant_min", 0) == 65535);
}
