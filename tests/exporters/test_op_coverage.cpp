// Every op's emitters, beyond what the zoo models use: one graph calling each
// exportable op (with its attribute variants) runs the same in the executor,
// in ONNX Runtime at opsets 13, 17 and 18 (unchecked: libonnx 1.12 has no
// opset-18 schemas), and in Python's torch.jit.load.
#include "export_test_util.h"
#include "ort_runner.h"

#include <edgeopt/ir/builder.h>
#include <edgeopt/ir/op_registry.h>

#include <cstdio>

using namespace edgeopt;
using namespace edgeopt::test;
using ir::Value;

namespace {

std::shared_ptr<GraphModule> opCoverageModel() {
  at::manual_seed(3);
  ir::ModelBuilder b;
  auto param = [&](const std::string& name, at::IntArrayRef shape) {
    return b.parameter(name, at::randn(shape) * 0.5);
  };
  auto f = [&](const std::string& op, std::vector<Value*> in, ir::Attrs attrs = {}) {
    return b.functional(op, std::move(in), std::move(attrs));
  };
  auto multi = [&](const std::string& op, Value* x, ir::Attrs attrs, size_t outputs) {
    return b.graphModule().graph().call(op, {x}, std::move(attrs), op, outputs);
  };
  Value* x = b.input("x");  // [2, 4, 8, 8]
  Value* a = f("conv_transpose2d", {x, param("up.weight", {4, 4, 3, 3}), param("up.bias", {4})},
               {{"stride", 2}, {"padding", 1}, {"output_padding", 1}});                         // [2, 4, 16, 16]
  a = f("avg_pool2d", {a}, {{"kernel_size", 3}, {"stride", 2}, {"padding", 1}, {"count_include_pad", false}});
  Value* g = f("group_norm", {a, param("gn.weight", {4}), param("gn.bias", {4})}, {{"num_groups", 2}});
  Value* l = f("layer_norm", {a, param("ln.weight", {8}), param("ln.bias", {8})}, {{"normalized_shape", ir::Ints{8}}});
  Value* l2 = f("layer_norm", {g}, {{"normalized_shape", ir::Ints{8, 8}}, {"eps", 1e-3}});
  Value* h = f("gelu", {l});
  Value* h2 = f("gelu", {l2}, {{"approximate", "tanh"}});
  Value* t = f("tanh", {h});
  Value* lr = f("hardtanh", {f("leaky_relu", {h2}, {{"negative_slope", 0.2}})}, {{"min_val", -0.5}, {"max_val", 0.5}});
  Value* d = f("div", {f("sub", {t, lr})}, {{"other", 2.0}});
  d = f("sub", {f("div", {d, f("add", {f("sigmoid", {lr})}, {{"other", 1.0}})})}, {{"other", 0.25}});
  Value* m = f("mul", {f("hardswish", {d}), f("hardsigmoid", {g})});
  m = f("relu6", {f("silu", {f("mul", {m}, {{"other", 3.0}})})});
  ir::Node* sp = multi("split", d, {{"dim", 1}, {"split_size", 3}}, 2);    // 3 + 1 channels
  ir::Node* ch = multi("chunk", m, {{"dim", 1}, {"chunks", 4}}, 4);
  ir::Node* ss = multi("split", m, {{"dim", -1}, {"split_sizes", ir::Ints{5, 3}}}, 2);
  Value* c = f("cat", {sp->output(0), ch->output(3)}, {{"dim", 1}});        // [2, 4, 8, 8]
  c = f("add", {c, f("relu", {f("cat", {ss->output(1), ss->output(0)}, {{"dim", -1}})})});
  Value* sl = f("slice", {c}, {{"dim", 3}, {"start", 1}, {"end", -1}, {"step", 2}});  // [2, 4, 8, 3]
  Value* tr = f("transpose", {f("permute", {sl}, {{"dims", ir::Ints{0, 2, 3, 1}}})}, {{"dim0", 1}, {"dim1", -2}});
  Value* mm = f("matmul", {tr, param("mm.weight", {4, 5})});                 // [2, 3, 8, 5]
  Value* sm = f("softmax", {f("mean", {mm}, {{"dim", ir::Ints{2, -1}}})}, {{"dim", -1}});
  Value* pd = f("pad", {c}, {{"pad", ir::Ints{1, 1, 2, 0}}, {"value", 0.5}});                 // [2, 4, 10, 10]
  Value* pr = f("pad", {c}, {{"pad", ir::Ints{2, 1, 1, 2}}, {"mode", "reflect"}});
  Value* pe = f("pad", {c}, {{"pad", ir::Ints{1, 2, 3, 0}}, {"mode", "replicate"}});
  Value* fl = f("flatten", {pd}, {{"start_dim", 2}});                                          // [2, 4, 100]
  Value* rs = f("reshape", {f("dropout", {fl}, {{"p", 0.3}})}, {{"shape", ir::Ints{2, -1, 10, 10}}});
  rs = f("add", {rs, f("full_like", {rs}, {{"value", 0.25}})});
  rs = f("identity", {f("stochastic_depth", {rs}, {{"p", 0.2}, {"mode", "row"}})});
  Value* up = f("interpolate", {c}, {{"scale_factor", ir::Doubles{2.0, 2.0}}, {"mode", "nearest"}});
  Value* ub = f("interpolate", {c}, {{"size", ir::Ints{12, 13}}, {"mode", "bilinear"}});
  Value* ua = f("interpolate", {c}, {{"scale_factor", 1.5}, {"mode", "bilinear"}, {"align_corners", true}});
  Value* un = f("interpolate", {c}, {{"size", 5}});
  Value* ap = f("adaptive_avg_pool2d", {up}, {{"output_size", ir::Ints{4, 2}}});
  Value* mp = f("max_pool2d", {ub}, {{"kernel_size", 3}, {"stride", 2}, {"padding", 1}, {"dilation", 1}});
  Value* pooled = f("mean", {ua}, {{"dim", ir::Ints{3}}, {"keepdim", true}});  // [2, 4, 12, 1]
  Value* lin = f("linear", {f("flatten", {pooled}, {{"start_dim", 1}}), param("fc.weight", {3, 48}),
                             param("fc.bias", {3})});
  Value* lin3 = f("linear", {pr, param("fc3.weight", {2, 11})});
  // Decomposed LayerNorm / exact GELU math: sqrt(erf(t)^2 + 1) ^ sigmoid(t).
  Value* er = f("erf", {t});
  Value* sq = f("sqrt", {f("add", {f("pow", {er}, {{"other", 2.0}})}, {{"other", 1.0}})});
  Value* pw = f("pow", {sq, f("sigmoid", {t})});
  b.output({sm, pe, rs, ap, mp, lin, lin3, un, f("conv2d", {pd, param("conv.weight", {2, 4, 3, 3})}, {{"stride", 2}}),
            pw, f("select", {mm}, {{"dim", 1}, {"index", -1}}), f("expand", {param("ex.a", {3, 1})}, {{"sizes", ir::Ints{2, -1, 4}}}),
            b.graphModule()
                .graph()
                .call("expand", {param("ex.b", {1, 5}), mm},
                      {{"sizes", ir::Ints{-1, -1, 4, -1}}, {"ref_dims", ir::Ints{0, 1, -1, -1}}}, "expand_ref")
                ->output()});
  auto model = b.finish();
  model->setExampleInputShapes({{2, 4, 8, 8}});
  model->eval();
  return model;
}

}  // namespace

TEST_CASE("every registered op has an ONNX and a TorchScript emitter", "[onnx][torchscript]") {
  std::string missing;
  for (const auto& name : ir::OpRegistry::instance().names()) {
    if (name.rfind("test_", 0) == 0) continue;  // ops registered by tests
    const ir::OpDef& def = ir::OpRegistry::instance().get(name);
    if (!def.onnx) missing += " " + name + " (onnx)";
    if (!def.torchscript) missing += " " + name + " (torchscript)";
  }
  INFO("ops without emitters:" << missing);
  CHECK(missing.empty());
}

TEST_CASE("a graph calling every op exports to ONNX 13/17/18 and TorchScript like the executor",
          "[onnx][torchscript][ops]") {
  loadBuiltinPlugin("onnx_export");
  loadBuiltinPlugin("torchscript_export");
  const std::string dir = scratchDir("op-coverage");
  auto model = opCoverageModel();
  at::manual_seed(4);
  at::Tensor x = at::randn({2, 4, 8, 8});
  writeFloats(dir + "/x.bin", x);
  std::vector<at::Tensor> expected;
  {
    at::NoGradGuard no_grad;
    expected = model->forward({x});
  }
  std::vector<OrtCase> cases;
  for (int opset : {13, 17, 18}) {
    const std::string path = dir + "/ops-" + std::to_string(opset) + ".onnx";
    INFO("opset " << opset);
    const std::string options = "{opset: " + std::to_string(opset) + (opset == 18 ? ", check: false}" : "}");
    REQUIRE_NOTHROW(makeExporter("onnx", options)->write(*model, path));
    cases.push_back({path, "opset " + std::to_string(opset), expected});
  }
  std::vector<double> diffs = runInOrt(dir, cases, dir + "/x.bin", x.sizes());
  for (size_t i = 0; i < cases.size(); ++i) {
    std::printf("onnx op coverage %s: max |ORT - executor| = %.3g\n", cases[i].label.c_str(), diffs[i]);
    INFO(cases[i].label);
    CHECK(diffs[i] <= 1e-4);
  }

  REQUIRE_NOTHROW(makeExporter("torchscript")->write(*model, dir + "/ops.pt"));
  nlohmann::json manifest = {{"threads", at::get_num_threads()},
                             {"runs", {{{"model", dir + "/ops.pt"},
                                        {"inputs", {{{"file", dir + "/x.bin"}, {"dims", x.sizes().vec()}}}},
                                        {"output_prefix", dir + "/py"}}}}};
  writeText(dir + "/manifest.json", manifest.dump());
  int rc = runLogged(std::string(EDGEOPT_SYSTEM_PYTHON) + " '" EDGEOPT_EXPORTER_TEST_DIR "/ts_check.py' '" + dir +
                         "/manifest.json'",
                     dir + "/python.log");
  INFO(readText(dir + "/python.log"));
  REQUIRE(rc == 0);
  auto report = readJson(dir + "/py.json");
  INFO(report.dump());
  REQUIRE(!report.contains("error"));
  REQUIRE(report["num_outputs"] == expected.size());
  CHECK(report["no_grad_after_backward"].empty());
  double diff = 0;
  for (size_t k = 0; k < expected.size(); ++k)
    diff = std::max(diff, maxAbsDiff(readFloats(dir + "/py." + std::to_string(k) + ".bin", expected[k].sizes()),
                                     expected[k]));
  std::printf("torchscript op coverage: max |python - executor| = %.3g\n", diff);
  CHECK(diff <= 1e-5);
}
