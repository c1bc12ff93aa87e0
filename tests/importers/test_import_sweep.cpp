// The torchvision sweep (issue 13): every classifier of torchvision 0.14
// (models.list_models(module=models), num_classes 10, at a small input; see
// make_sweep_fixtures.py), each checked three ways against PyTorch, with the
// bound 1e-4 x max(1, max |ref|) throughout:
// - scripted by PyTorch and imported by the torchscript source: eval output
//   parity, and EdgeOpt's ONNX export of the imported model in ONNX Runtime;
// - one SGD step in train mode (imported with mode: train; lr 0.1, momentum
//   0.9, weight decay 1e-4; every dropout and stochastic depth at p = 0 on both
//   sides, so no model's step is random): the loss and every parameter and
//   buffer after the step;
// - torch.onnx.export of the eval model at opsets 13 and 17 (symbolic batch,
//   height and width; batch alone where torch.onnx can't export symbolic
//   sizes) imported by the onnx_import source with input_shape: output parity
//   with ONNX Runtime running the same file, and with PyTorch.
// The models that fail a check are listed with the reason expected (kKnownGaps,
// kTrainGaps, kOnnxGaps): a model leaving or joining a list fails the test, so
// the README's table stays true. The full sweep is behind the `sweep` label
// (ctest -L sweep) and writes test-work/test_importers/sweep/sweep.md;
// EDGEOPT_SWEEP_MODELS=name,name... runs only those. A representative subset
// runs in the default suite.
#include "ort_runner.h"  // first: ATen's glog CHECK must come before Catch's

#include "script_parity.h"

#include <edgeopt/ir/graph.h>

#include <nlohmann/json.hpp>

#include <torch/optim/sgd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <variant>

using namespace edgeopt;
using edgeopt::test::loadPickle;
using edgeopt::test::maxAbsDiff;

namespace {

namespace fs = std::filesystem;

const std::string kScript = std::string(EDGEOPT_SOURCE_DIR) + "/tests/importers/make_sweep_fixtures.py";

// Models whose TorchScript import fails a check, with a piece of the reason
// each gives (none since the cosine-attention ops of Swin V2).
const std::map<std::string, std::string> kKnownGaps = {};

struct TrainCheck {
  bool ok = false;
  double loss_diff = -1, weight_diff = -1;  // the largest over all tensors, each relative to its bound
  std::string reason;
};

// A torch.onnx export imported by onnx_import.
struct OnnxCheck {
  int opset = 0;
  bool ok = false;
  std::string dynamic, reason;          // the symbolic dims of x
  double ort_diff = -1, ref_diff = -1;  // EdgeOpt vs ONNX Runtime on the file; vs PyTorch
};

struct Row {
  std::string name, build, reason;
  int64_t input = 0, params = 0;
  bool scripted = false, imports = false, parity = false, ort = false;
  double eval_diff = -1, ort_diff = -1, bound = 0;
  TrainCheck train;
  std::vector<OnnxCheck> onnx;
  bool ok() const { return imports && parity && ort; }
};

// Known failures of the other checks: "name" for the SGD step, "name/opset"
// for the torch.onnx exports, with a piece of the reason.
// inception_v3's aux classifier (run in training) needs about 299 px; the sweep runs it at 96.
const std::map<std::string, std::string> kTrainGaps = {{"inception_v3", "PyTorch training step"}};
// torch.onnx 1.13 can't export these: adaptive_avg_pool2d growing the map
// (alexnet's 1x1 -> 6x6, VGG's 2x2 -> 7x7 at 64 px), and aten::zero_ (Swin V2's
// zeroed bias).
const std::map<std::string, std::string> kOnnxGaps = [] {
  std::map<std::string, std::string> gaps;
  for (const char* name : {"alexnet", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19",
                           "vgg19_bn", "swin_v2_t", "swin_v2_s", "swin_v2_b"})
    for (const char* opset : {"/13", "/17"})
      gaps[std::string(name) + opset] = std::string(name).rfind("swin", 0) == 0 ? "aten::zero" : "adaptive_avg_pool2d";
  return gaps;
}();

std::string firstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

std::vector<std::string> listModels() {
  const std::string dir = test::scratchDir("sweep-list");
  const std::string cmd = std::string(EDGEOPT_SYSTEM_PYTHON) + " -B '" + kScript + "' --list > '" + dir +
                          "/list.txt' 2> '" + dir + "/list.log'";
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::istringstream in(test::readText(dir + "/list.txt"));
  std::vector<std::string> names;
  for (std::string name, size; in >> name >> size;) names.push_back(name);
  return names;
}

// Makes the fixtures of `names` in `dir` (one Python process), with torch.onnx
// exports for those in `onnx`.
void makeFixtures(const std::string& dir, const std::vector<std::string>& names, const std::set<std::string>& onnx) {
  std::string cmd = std::string(EDGEOPT_SYSTEM_PYTHON) + " -B '" + kScript + "' '" + dir + "'";
  for (const auto& n : names)
    if (!onnx.count(n)) cmd += " " + n;
  cmd += " --onnx";
  for (const auto& n : names)
    if (onnx.count(n)) cmd += " " + n;
  cmd += " > '" + dir + "/python.log' 2>&1";
  INFO(cmd);
  const int rc = std::system(cmd.c_str());
  INFO(test::readText(dir + "/python.log"));
  REQUIRE(rc == 0);
}

// ONNX Runtime's max |diff| against `want`, or the error it reports (the
// sweep goes on; ort_runner.h's runInOrt stops the test case).
std::variant<double, std::string> ortDiff(const std::string& dir, const std::string& model, const at::Tensor& x,
                                          const at::Tensor& want) {
  test::writeFloats(dir + "/x.bin", x);
  nlohmann::json manifest = {{"threads", 2}, {"optimization", "disabled"}, {"runs", nlohmann::json::array()}};
  manifest["runs"].push_back({{"model", model},
                              {"inputs", {{{"name", "x"}, {"file", dir + "/x.bin"}, {"dims", x.sizes().vec()}}}},
                              {"output_prefix", dir + "/ort"}});
  test::writeText(dir + "/manifest.json", manifest.dump());
  const std::string cmd = std::string(EDGEOPT_NODE) + " '" EDGEOPT_EXPORTER_TEST_DIR "/ort_run.js' '" +
                          EDGEOPT_ORT_NODE_MODULES + "' '" + dir + "/manifest.json'";
  if (test::runLogged(cmd, dir + "/node.log") != 0)
    return "ONNX Runtime: " + firstLine(test::readText(dir + "/node.log"));
  auto report = test::readJson(dir + "/ort.json");
  if (report.contains("error")) return "ONNX Runtime: " + firstLine(report["error"].dump());
  auto dims = report["outputs"][0]["dims"].get<std::vector<int64_t>>();
  if (dims != want.sizes().vec()) return "ONNX Runtime: output shape " + ir::formatShape(dims);
  return maxAbsDiff(test::readFloats(dir + "/ort.0.bin", dims), want);
}

// The SGD step of make_sweep_fixtures.py's sgd_step on the train-mode import.
TrainCheck trainStep(const std::string& dir, const std::string& name, const c10::Dict<c10::IValue, c10::IValue>& ref) {
  TrainCheck t;
  std::shared_ptr<GraphModule> m;
  try {
    m = test::importScriptFile(dir + "/" + name + ".script.pt", "train",
                               "input_shape: " + ir::formatShape(ref.at("x").toTensor().sizes().vec()));
    for (ir::Node* n : m->graph().nodes())
      if (n->target() == "dropout" || n->target() == "stochastic_depth") n->setAttr("p", 0.0);
    m->train();
    torch::optim::SGD opt(m->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(1e-4));
    const at::Tensor out = m->forward({ref.at("x").toTensor()})[0];
    const at::Tensor loss = at::cross_entropy_loss(out, ref.at("target").toTensor());
    opt.zero_grad();
    loss.backward();
    opt.step();
    const double want = ref.at("loss").toTensor().item<double>();
    t.loss_diff = std::abs(loss.item<double>() - want) / std::max(1.0, std::abs(want));
  } catch (const std::exception& e) {
    t.reason = "train: " + firstLine(e.what());
    return t;
  }
  t.weight_diff = 0;
  std::string worst;
  for (const auto& item : ref.at("after").toGenericDict()) {
    const std::string key = item.key().toStringRef();
    const at::Tensor want = item.value().toTensor();
    if (!m->hasTensor(key)) {
      t.reason = "train: no tensor '" + key + "' after import";
      return t;
    }
    const double scale =
        want.numel() && want.is_floating_point() ? std::max(1.0, want.abs().max().item<double>()) : 1.0;
    const double d = maxAbsDiff(m->tensor(key).to(want.scalar_type()), want) / scale;
    if (d > t.weight_diff) {
      t.weight_diff = d;
      worst = key;
    }
  }
  t.ok = t.loss_diff <= 1e-4 && t.weight_diff <= 1e-4;
  if (!t.ok) t.reason = t.loss_diff > 1e-4 ? "train: loss differs" : "train: '" + worst + "' differs after the step";
  return t;
}

OnnxCheck onnxImport(const std::string& dir, const std::string& name, int opset, const nlohmann::json& info,
                     const at::Tensor& x, const at::Tensor& want, double bound) {
  OnnxCheck o;
  o.opset = opset;
  const std::string key = "onnx" + std::to_string(opset);
  if (info.contains(key + "_error")) {
    o.reason = info[key + "_error"].get<std::string>();
    return o;
  }
  o.dynamic = info[key + "_dynamic"].get<std::string>();
  const std::string path = dir + "/" + name + ".opset" + std::to_string(opset) + ".onnx";
  at::Tensor got;
  try {
    auto m =
        test::loadModel("onnx_import", "{path: '" + path + "', input_shape: " + ir::formatShape(x.sizes().vec()) + "}");
    m->eval();
    at::NoGradGuard no_grad;
    got = m->forward({x})[0];
  } catch (const std::exception& e) {
    o.reason = "onnx_import: " + firstLine(e.what());
    return o;
  }
  if (got.sizes() != want.sizes()) {
    o.reason = "onnx_import: output shape " + ir::formatShape(got.sizes().vec());
    return o;
  }
  o.ref_diff = maxAbsDiff(got, want);
  const auto ort = ortDiff(dir, path, x, got);
  if (const auto* error = std::get_if<std::string>(&ort)) {
    o.reason = *error;
    return o;
  }
  o.ort_diff = std::get<double>(ort);
  o.ok = o.ort_diff <= bound && o.ref_diff <= bound;
  if (!o.ok)
    o.reason = o.ort_diff > bound ? "onnx_import: differs from ONNX Runtime" : "onnx_import: differs from PyTorch";
  return o;
}

Row check(const std::string& dir, const std::string& name) {
  Row r;
  r.name = name;
  const auto info = nlohmann::json::parse(test::readText(dir + "/" + name + ".json"));
  r.input = info["input"].get<int64_t>();
  r.params = info["params"].get<int64_t>();
  r.build = info["build"].get<std::string>();
  auto ref = loadPickle(dir + "/" + name + ".ref.pt");
  const at::Tensor x = ref.at("x").toTensor(), want = ref.at("eval_out").toTensor();
  r.bound = 1e-4 * std::max(1.0, want.abs().max().item<double>());
  for (int opset : {13, 17})
    if (info.contains("onnx" + std::to_string(opset) + "_dynamic") ||
        info.contains("onnx" + std::to_string(opset) + "_error"))
      r.onnx.push_back(onnxImport(dir, name, opset, info, x, want, r.bound));
  if (info.contains("error")) {
    r.reason = r.train.reason = info["error"].get<std::string>();
    return r;
  }
  r.scripted = true;
  if (info.contains("train_error"))
    r.train.reason = info["train_error"].get<std::string>();
  else
    r.train = trainStep(dir, name, ref);
  std::shared_ptr<GraphModule> m;
  try {
    m = test::importScriptFile(dir + "/" + name + ".script.pt", "eval",
                               "input_shape: " + ir::formatShape(x.sizes().vec()));
  } catch (const std::exception& e) {
    r.reason = firstLine(e.what());
    return r;
  }
  r.imports = true;
  {
    at::NoGradGuard no_grad;
    try {
      r.eval_diff = maxAbsDiff(m->forward({x})[0], want);
    } catch (const std::exception& e) {
      r.reason = "eval: " + firstLine(e.what());
      return r;
    }
  }
  r.parity = r.eval_diff <= r.bound;
  if (!r.parity) r.reason = "eval output differs";
  try {
    test::loadBuiltinPlugin("onnx_export");
    const std::string path = dir + "/" + name + ".onnx";
    test::makeExporter("onnx", "{opset: 17, input_shape: " + ir::formatShape(x.sizes().vec()) + "}")->write(*m, path);
    const auto ort = ortDiff(dir, path, x, want);
    if (const auto* error = std::get_if<std::string>(&ort)) {
      if (r.reason.empty()) r.reason = *error;
    } else {
      r.ort_diff = std::get<double>(ort);
      r.ort = r.ort_diff <= r.bound;
      if (!r.ort && r.reason.empty()) r.reason = "ONNX Runtime output differs";
    }
  } catch (const std::exception& e) {
    if (r.reason.empty()) r.reason = "ONNX export: " + firstLine(e.what());
  }
  return r;
}

std::string number(double v) {
  if (v < 0) return "-";
  std::ostringstream s;
  s.precision(2);
  s << std::scientific << v;
  return s.str();
}

std::string cell(std::string reason) {
  for (auto& c : reason)
    if (c == '|') c = '/';
  if (reason.size() > 160) reason = reason.substr(0, 157) + "...";
  return reason;
}

std::string table(const std::vector<Row>& rows) {
  std::ostringstream t;
  t << "| model | input | built | TorchScript: eval max diff (bound) | its ONNX export in ONNX Runtime | failure "
       "| SGD step: loss / weights diff (relative) | failure | torch.onnx 13: vs ORT / vs PyTorch | 17 | failures |\n"
       "|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const Row& r : rows) {
    t << "| " << r.name << " | " << r.input << " | " << r.build << " | "
      << (r.imports ? number(r.eval_diff) + " (" + number(r.bound) + ")" : "-") << " | " << number(r.ort_diff) << " | "
      << cell(r.reason) << " | " << number(r.train.loss_diff) << " / " << number(r.train.weight_diff) << " | "
      << cell(r.train.ok ? "" : r.train.reason) << " | ";
    std::string failures;
    for (int opset : {13, 17}) {
      auto o = std::find_if(r.onnx.begin(), r.onnx.end(), [&](const OnnxCheck& c) { return c.opset == opset; });
      if (o == r.onnx.end()) {
        t << "not run | ";
        continue;
      }
      t << number(o->ort_diff) << " / " << number(o->ref_diff) << (o->dynamic.empty() ? "" : " (" + o->dynamic + ")")
        << " | ";
      if (!o->ok) failures += (failures.empty() ? "" : "; ") + std::to_string(opset) + ": " + o->reason;
    }
    t << cell(failures) << " |\n";
  }
  return t.str();
}

// Checks `ok` against the expected-failure list `gaps` at `key`.
void expect(const std::map<std::string, std::string>& gaps, const std::string& key, bool ok,
            const std::string& reason) {
  INFO(key << ": " << reason);
  auto gap = gaps.find(key);
  if (gap == gaps.end()) {
    CHECK(ok);
  } else {
    CHECK_FALSE(ok);
    CHECK(reason.find(gap->second) != std::string::npos);
  }
}

// Sweeps `names` (with the torch.onnx checks for those in `onnx`) in batches
// of fixtures (deleted after each batch) and checks each row against the
// expected-failure lists.
void sweep(const std::vector<std::string>& names, const std::set<std::string>& onnx, const std::string& label) {
  at::set_num_threads(1);
  const std::string dir = test::scratchDir(label);
  std::vector<Row> rows;
  const size_t batch = 6;
  for (size_t i = 0; i < names.size(); i += batch) {
    const std::string work = dir + "/batch";
    fs::remove_all(work);
    fs::create_directories(work);
    std::vector<std::string> part(names.begin() + static_cast<long>(i),
                                  names.begin() + static_cast<long>(std::min(names.size(), i + batch)));
    makeFixtures(work, part, onnx);
    for (const auto& name : part) rows.push_back(check(work, name));
    test::writeText(dir + "/" + label + ".md", table(rows));  // the rows so far
  }
  fs::remove_all(dir + "/batch");
  const std::string md = table(rows);
  test::writeText(dir + "/" + label + ".md", md);
  WARN(md);
  for (const Row& r : rows) {
    expect(kKnownGaps, r.name, r.ok(), r.reason);
    expect(kTrainGaps, r.name, r.train.ok, r.train.reason);
    for (const OnnxCheck& o : r.onnx) expect(kOnnxGaps, r.name + "/" + std::to_string(o.opset), o.ok, o.reason);
  }
  size_t ts = 0, train = 0, onnx13 = 0, onnx17 = 0;
  for (const Row& r : rows) {
    ts += r.ok();
    train += r.train.ok;
    for (const OnnxCheck& o : r.onnx) (o.opset == 13 ? onnx13 : onnx17) += o.ok;
  }
  WARN(label << ": of " << rows.size() << " models, TorchScript eval + ONNX Runtime " << ts << ", SGD step " << train
             << ", torch.onnx opset 13 " << onnx13 << ", opset 17 " << onnx17);
}

}  // namespace

TEST_CASE("sweep: a representative subset of the torchvision classifiers imports with PyTorch and ONNX Runtime parity",
          "[importers][torchscript][sweep_subset]") {
  // One per family the default suite covers nowhere else, the fastest of each;
  // swin_t and maxvit_t end to end (roll, window masks, relative-position index, einsum, B x windows views),
  // swin_v2_t (cosine attention, a bias zeroed in place). torch.onnx exports of two: swin_t's at opset 13
  // spells LayerNorm as ReduceMean/Sub/Pow/Sqrt/Div, GELU with Erf, attention as MatMul/Softmax, and its
  // window sizes as Shape/Gather/Slice arithmetic on the symbolic batch, height and width.
  sweep({"alexnet", "squeezenet1_1", "mnasnet0_5", "densenet121", "resnext50_32x4d", "regnet_y_400mf", "swin_t",
         "swin_v2_t", "maxvit_t"},
        {"mnasnet0_5", "swin_t"}, "sweep-subset");
}

TEST_CASE("sweep: every torchvision 0.14 classifier imports with PyTorch and ONNX Runtime parity", "[.sweep]") {
  std::vector<std::string> names = listModels();
  CHECK(names.size() == 80);
  if (const char* only = std::getenv("EDGEOPT_SWEEP_MODELS")) {  // a few, while working on them
    std::vector<std::string> chosen;
    std::istringstream in(only);
    for (std::string name; std::getline(in, name, ',');)
      if (std::find(names.begin(), names.end(), name) != names.end()) chosen.push_back(name);
    names = chosen;
  }
  sweep(names, std::set<std::string>(names.begin(), names.end()), "sweep");
}
