// Inputs the fuzz harnesses (fuzz/) found, committed under fuzz/regressions/
// <target>/: each must now fail with its one documented error line.
#include <ATen/ATen.h>
#include <edgeopt/config.h>
#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/image_io.h>
#include <edgeopt/ir/summary.h>
#include <edgeopt/model_loader.h>
#include <edgeopt/plugin_host.h>
#include <torch/csrc/jit/serialization/import.h>
#include <unistd.h>

#include <cstdio>
#include <opencv2/core/mat.hpp>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "idx_reader.h"
#include "memory_cap.h"
#include "model_inspect.h"
#include "test_support.h"
#include "torchscript_archive_check.h"
#include "torchscript_archive_view.h"

namespace {

std::string regression(const std::string& target, const std::string& name) {
  return std::string(EDGEOPT_SOURCE_DIR) + "/fuzz/regressions/" + target + "/" + name;
}

constexpr uint64_t kOneGiB = uint64_t{1} << 30;

}  // namespace

TEST_CASE("idx: a 16-byte file announcing 16 GiB fails as truncated within 1 GiB", "[fuzz][idx]") {
  const std::string path = regression("idx", "header-claims-16gib-ubyte");
  const auto r = edgeopt::test::runWithMemoryCap(kOneGiB, [&] { edgeopt::idx::read(path, 3); });
  CHECK(r.completed);
  CHECK(r.error == path + ": truncated: 0 of 17179869184 data bytes");
}

TEST_CASE("image: a 331-byte gray JPEG declaring 65500x65500 fails before allocating its 4 GiB", "[fuzz][image]") {
  // The harness's first byte picks the channel count (fuzz_image.cpp); 0: 3 channels.
  const std::string bytes = edgeopt::test::readText(regression("image", "jpeg-declares-65500x65500.bin")).substr(1);
  REQUIRE(bytes.size() == 331);
  const auto r = edgeopt::test::runWithMemoryCap(kOneGiB, [&] { edgeopt::decodeImage(bytes, "declared.jpg", 3); });
  CHECK(r.completed);
  CHECK(r.error ==
        "declared.jpg: 65500x65500 pixels, more than the 1073741824 an image may have (CV_IO_MAX_IMAGE_PIXELS)");
}

namespace {

// What `body` writes to stderr (fd 2, where OpenCV and libjpeg print).
template <class Body>
std::string capturedStderr(Body&& body) {
  const std::string path = std::string(EDGEOPT_TEST_WORK_DIR) + "-stderr.txt";
  std::fflush(stderr);
  const int saved = dup(2);
  FILE* f = std::fopen(path.c_str(), "w");
  dup2(fileno(f), 2);
  body();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  std::fclose(f);
  return edgeopt::test::readText(path);
}

}  // namespace

TEST_CASE("image: decoding a malformed file prints nothing besides the error", "[fuzz][image]") {
  const std::string jp2 = edgeopt::test::readText(regression("image", "jp2-stream-too-short.bin")).substr(1);
  std::string error;
  const std::string jp2_stderr = capturedStderr([&] {
    try {
      edgeopt::decodeImage(jp2, "short.jp2", 3);
    } catch (const edgeopt::InputError& e) {
      error = e.what();
    }
  });
  CHECK(error == "short.jp2: not a readable image (unknown format or corrupt data)");
  CHECK(jp2_stderr == "");  // was "[ERROR:0@...] ... OpenJPEG2000: Stream too short" (three lines)

  // A JPEG with junk between its markers decodes (as OpenCV and PIL do), silently.
  const std::string jpeg = edgeopt::test::readText(regression("image", "jpeg-extraneous-bytes.bin")).substr(1);
  cv::Mat image;
  const std::string jpeg_stderr = capturedStderr([&] { image = edgeopt::decodeImage(jpeg, "junk.jpg", 3); });
  CHECK(image.rows == 8);
  CHECK(image.cols == 8);
  CHECK(jpeg_stderr == "");  // was "Corrupt JPEG data: 2 extraneous bytes before marker 0xe0"
}

namespace {

// What edgeopt-inspect does with a checkpoint: load, then count MACs for the
// input shape it records. Returns the error it fails with, "" if none.
std::string inspectCheckpointError(const std::string& path, edgeopt::ExitCode expected_code) {
  try {
    auto model = edgeopt::GraphModule::load(path);
    model->eval();
    edgeopt::ir::summarize(*model, model->exampleInputShapes().at(0));
  } catch (const edgeopt::Error& e) {
    CHECK(e.code() == expected_code);
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("checkpoint: a recorded input shape whose MACs overflow is a malformed file", "[fuzz][checkpoint]") {
  // Was a summary with -213,426,965,052 MACs (signed overflow), exit 0.
  CHECK(inspectCheckpointError(regression("checkpoint", "input-shape-overflows-macs.edgeopt"),
                               edgeopt::ExitCode::Input) ==
        "shape propagation failed at %x = input[x]: shape [1, 1, 3037000499, 3037000499] has more than 2^40 elements");
  // Was 0 MACs.
  CHECK(inspectCheckpointError(regression("checkpoint", "input-batch-2e62.edgeopt"), edgeopt::ExitCode::Input) ==
        "shape propagation failed at %x = input[x]: shape [4611686018427387904, 1, 8, 8] has more than 2^40 elements");
}

TEST_CASE("checkpoint: a tensor header claiming 16 GiB in a 1 KB file fails before allocating", "[fuzz][checkpoint]") {
  const std::string path = regression("checkpoint", "tensor-claims-16gib.edgeopt");
  const auto r = edgeopt::test::runWithMemoryCap(kOneGiB, [&] { edgeopt::GraphModule::load(path); });
  CHECK(r.completed);
  CHECK(r.error == path +
                       ": corrupted model file: truncated: tensor 'conv.weight' needs bytes 0..17179869184, data has "
                       "144");
}

using edgeopt::test::inspectModelError;

TEST_CASE("torchscript: a zip without a version record is one error (LibTorch leaks its reader: lsan.supp)",
          "[fuzz][torchscript]") {
  // fuzz_torchscript's first finding: LibTorch 1.13's PyTorchStreamReader
  // throws from its constructor and never frees miniz's state (1,508 bytes);
  // suppressed in fuzz/lsan.supp as a LibTorch bug. The error stays one line.
  const std::string path = regression("torchscript", "zip-without-version.pt");
  CHECK(
      inspectModelError(path, "torchscript") ==
      path +
          ": not a readable TorchScript file (Expected hasRecord(\"version\") to be true, but got false.  (Could this "
          "error message be improved?  If so, please report an enhancement request to PyTorch.))");
}

TEST_CASE("recipe: a ',' where a document starts is invalid YAML, not an endless parse", "[fuzz][recipe]") {
  // fuzz_recipe's finding (78 bytes): yaml-cpp 0.7's LoadAll yields empty
  // documents forever on it; a lone "," grew to 22 GB in 190 s before the
  // kernel killed edgeopt-run. Now one recipe error, exit 3, within 1 GiB.
  const std::string path = regression("recipe", "leading-comma-endless-documents.yaml");
  const auto file = edgeopt::test::runWithMemoryCap(kOneGiB, [&] { edgeopt::ConfigNode::loadFile(path); });
  CHECK(file.completed);
  CHECK(file.error == path + ":1:1: invalid YAML: ',' outside [ ] or { }");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {",", "c.yaml:1:1: invalid YAML: ',' outside [ ] or { }"},
      {"# comment\n  ,x\n", "c.yaml:2:3: invalid YAML: ',' outside [ ] or { }"},
      {"!tag ,", "c.yaml:1:6: invalid YAML: ',' outside [ ] or { }"},
      {"name: a\n---\n,\n", "c.yaml:3:1: invalid YAML: ',' outside [ ] or { }"},
      {"name: a\n---\nname: b\n", "c.yaml:3:1: a second YAML document (after '---'); a recipe is one document"}};
  for (const auto& c : cases) {
    const std::string& text = c.first;  // not a structured binding: the lambda captures it (clang-14)
    const std::string& error = c.second;
    INFO(text);
    const auto r = edgeopt::test::runWithMemoryCap(kOneGiB, [&] { edgeopt::ConfigNode::parse(text, "c.yaml"); });
    CHECK(r.completed);
    CHECK(r.error == error);
  }
  // A ',' inside a flow collection or a scalar is still fine.
  CHECK(edgeopt::ConfigNode::parse("a: [1, 2]\nb: x,y\n", "c.yaml").find("b")->value() == "x,y");
}

TEST_CASE("torchscript: a debug-info string declaring 677 MB is dropped before anything reads it",
          "[fuzz][torchscript]") {
  // fuzz_torchscript's timeout: the error naming the unsupported operations
  // looked up their Python source, which unpickles the file's debug info only
  // then; a string declared there with 676,878,424 bytes made LibTorch
  // allocate and fill it, then fail. (The lookup falls back to the archive's
  // code since 0b4776c.) Then the archive check refused the file for it.
  // LibTorch no longer gets the debug info, and the importer drops a debug
  // record that fails the pickle check (its first 490 bytes: miniz keeps the
  // declared size of a longer deflate stream): the file fails for what its
  // model does, naming the serialized code's lines, within 1 GiB.
  const std::string path = regression("torchscript", "debug-info-declares-huge-string.pt");
  const std::string expected =
      path +
      ": unsupported TorchScript operations (EdgeOpt's IR has no equivalent): aten::sum at the top-level module "
      "(__torch__.py:8); aten::gt at the top-level module (__torch__.py:8); prim::If at the top-level module "
      "(__torch__.py:8): control flow that depends on values known only at run time";
  CHECK(inspectModelError(path, "torchscript") == expected);
  const auto capped = edgeopt::test::runWithMemoryCap(kOneGiB, [&] {
    const std::string error = inspectModelError(path, "torchscript");
    if (!error.empty()) throw std::runtime_error(error);
  });
  CHECK(capped.completed);
  CHECK(capped.error == expected);
}

TEST_CASE("torchscript: code nesting 100000 brackets is refused before LibTorch's parser recurses into it",
          "[fuzz][torchscript]") {
  // Made by tests/fuzz/data/make_tiny_script.py: forward's code in an 11.7 KB
  // file opens 100,000 parentheses; LibTorch's recursive-descent parser
  // overflowed the stack compiling it (SIGSEGV in edgeopt-inspect). Run in a
  // child process, so the crash it was fails this test only.
  const std::string path = regression("torchscript", "code-nests-100000-brackets.pt");
  const auto r = edgeopt::test::runWithMemoryCap(kOneGiB, [&] {
    const std::string error = inspectModelError(path, "torchscript");
    if (!error.empty()) throw std::runtime_error(error);
  });
  CHECK(r.completed);
  CHECK(r.error ==
        path +
            ": not a readable TorchScript file: record 'tiny.script/code/__torch__.py' nests brackets more than 256 "
            "deep");
}

TEST_CASE("torchscript: a statement of 100000 operators is refused before LibTorch recurses into it",
          "[fuzz][torchscript]") {
  // Made by make_tiny_script.py: `x0 = - - ... - torch.relu(...)` with 100,000
  // minuses in an 11.7 KB file; LibTorch's parser and emitter recurse once per
  // operator (SIGSEGV). 1,000 tokens a statement is the limit (the code of
  // every model the tests import has at most 169).
  const std::string path = regression("torchscript", "code-chains-100000-operators.pt");
  const auto r = edgeopt::test::runWithMemoryCap(kOneGiB, [&] {
    const std::string error = inspectModelError(path, "torchscript");
    if (!error.empty()) throw std::runtime_error(error);
  });
  CHECK(r.completed);
  CHECK(r.error == path +
                       ": not a readable TorchScript file: record 'tiny.script/code/__torch__.py' has a statement of "
                       "more than 1000 tokens");
}

TEST_CASE("torchscript: a class constant without a type is refused before LibTorch's importer reads its type",
          "[fuzz][torchscript]") {
  // fuzz_torchscript's crash (after 20,777 inputs): `param_group = []` in a
  // module's class body; LibTorch 1.13's importer takes it for a constant and
  // reads its type annotation unchecked (SIGSEGV under
  // ScriptTypeParser::parseClassConstant, or "is an Atom", depending on the
  // heap). The made-up case puts `foo = 3` into Linear's body.
  const std::string fuzzed = regression("torchscript", "fuzzed-class-constant-without-type.pt");
  const std::string made = regression("torchscript", "class-constant-without-type.pt");
  const std::string type_hint = " without a type (a constant is 'name : Final[T] = value')";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {fuzzed, fuzzed +
                   ": not a readable TorchScript file: record "
                   "'optimizer-epoch-3.pt/code/__torch__/___torch_mangle_1.py' class Module assigns 'param_group'" +
                   type_hint},
      {made, made +
                 ": not a readable TorchScript file: record "
                 "'tiny.script/code/__torch__/torch/nn/modules/linear.py' class Linear assigns 'foo'" +
                 type_hint}};
  for (const auto& c : cases) {
    const std::string& path = c.first;  // not a structured binding: the lambda captures it (clang-14)
    const std::string& expected = c.second;
    const auto r = edgeopt::test::runWithMemoryCap(kOneGiB, [&] {
      const std::string error = inspectModelError(path, "torchscript");
      if (!error.empty()) throw std::runtime_error(error);
    });
    CHECK(r.completed);
    CHECK(r.error == expected);
  }
  // With a type that is not Final[T], LibTorch refuses it itself; its message
  // starts with a newline, and the error read "(...) ()" before.
  const std::string not_final = regression("torchscript", "class-constant-not-final.pt");
  CHECK(inspectModelError(not_final, "torchscript") ==
        not_final + ": not a readable TorchScript file (Expected subscripted type for class constant:)");
}

TEST_CASE("torchscript: debug info LibTorch cannot unpickle is never given to it", "[fuzz][torchscript]") {
  // fuzz_torchscript's abort (after 104,554 inputs): a .debug_pkl naming
  // torch.jit._pickle.build_intl_tt; LibTorch unpickles debug info lazily,
  // inside ErrorReport::what() of a compile error, and its "Unknown pickler
  // class id" thrown there terminated the process. The archive check refused
  // the record then; now LibTorch reads the file without its debug info, and
  // the file fails for its own compile error (the fuzzer turned a 'torch' in
  // the code into 'rorch').
  const std::string path = regression("torchscript", "fuzzed-debug-info-unknown-global.pt");
  const auto r = edgeopt::test::runWithMemoryCap(kOneGiB, [&] {
    const std::string error = inspectModelError(path, "torchscript");
    if (!error.empty()) throw std::runtime_error(error);
  });
  CHECK(r.completed);
  CHECK(r.error == path + ": not a readable TorchScript file (undefined value rorch:)");
}

namespace {

// Where forward's nodes of the module came from in the model's Python source,
// as LibTorch's own debug-info decoder finds it: the count of nodes it finds.
int nodesWithOriginalSource(const torch::jit::Module& module) {
  int found = 0;
  for (const torch::jit::Node* n : module.get_method("forward").graph()->nodes())
    if (n->sourceRange().findSourceRangeThatGenerated()) ++found;
  return found;
}

}  // namespace

TEST_CASE("torchscript: debug info indexing past its string table is never decoded by LibTorch",
          "[fuzz][torchscript]") {
  // Made by tests/fuzz/data/make_debug_info_case.py from a real
  // torch.jit.script file: code/__torch__.py.debug_pkl is a valid pickle,
  // but its records index the 4-entry string table at 100,000,000. LibTorch
  // 1.13's SourceRangeDeserializer indexes it unchecked: edgeopt-inspect
  // (c3d8e95) crashed with SIGSEGV (exit 139) looking up the Python line of
  // the unsupported aten::cumsum. Now LibTorch reads the archive through a
  // central directory without the debug records, and the importer decodes
  // them itself, checking every index: this one it drops, and the message
  // names the serialized code.
  const std::string path = regression("torchscript", "debug-info-text-index-past-table.pt");
  const auto r = edgeopt::test::runWithMemoryCap(kOneGiB, [&] {
    const std::string error = inspectModelError(path, "torchscript");
    if (!error.empty()) throw std::runtime_error(error);
  });
  CHECK(r.completed);
  const std::string unsupported =
      ": unsupported TorchScript operations (EdgeOpt's IR has no equivalent): aten::cumsum at the top-level module ";
  CHECK(r.error == path + unsupported + "(__torch__.py:10)");

  // The same file with its debug info intact: the message names the line of
  // the model's Python source, read by the importer.
  const std::string intact = std::string(EDGEOPT_SOURCE_DIR) + "/tests/fuzz/data/cumsum.script.pt";
  CHECK(inspectModelError(intact, "torchscript") == intact + unsupported + "(make_debug_info_case.py:26)");

  // What LibTorch is given has no debug info: its decoder finds nothing,
  // where reading the file itself it finds forward's lines.
  const auto checked = edgeopt::torchscript::checkTorchScriptArchive(intact, kOneGiB);
  CHECK(checked.debug_info.size() == 2);
  CHECK(nodesWithOriginalSource(torch::jit::load(intact)) > 0);
  auto without = std::make_shared<edgeopt::torchscript::ArchiveWithoutDebugInfo>(intact, checked);
  CHECK(nodesWithOriginalSource(torch::jit::load(without)) == 0);
}

TEST_CASE("torchscript: code LibTorch runs while loading may only restore state as torch.ao's __setstate__ does",
          "[fuzz][torchscript]") {
  // Made by tests/fuzz/data/make_load_time_code_cases.py. LibTorch 1.13 runs
  // a class's scripted __setstate__ for its objects in data.pkl, and the
  // compiler runs default arguments, while loading: edgeopt-inspect
  // (c3d8e95) ran the endless loops until killed (timeout 20: exit 124) and
  // went to allocate 4 TiB for the second file. Now the code check refuses
  // them before LibTorch compiles anything. Each child is killed after 60 s,
  // so a loop that ran again fails this test instead of hanging it.
  const std::string allowed =
      " (allowed: assignments from the state, conditions, the class's methods that do the same, prepack ops)";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"setstate-endless-loop.pt",
       "record 'setstate-endless-loop/code/__torch__.py' class Loop: __setstate__, which LibTorch runs while "
       "loading, has a loop" +
           allowed},
      {"setstate-allocates-4-tib.pt",
       "record 'setstate-allocates-4-tib/code/__torch__.py' class Alloc: __setstate__, which LibTorch runs while "
       "loading, calls torch.ones" +
           allowed},
      {"default-argument-endless-loop.pt",
       "record 'default-argument-endless-loop/code/__torch__.py' class Default: def forward: the default of 'k' is "
       "not a constant (LibTorch runs it while loading)"}};
  for (const auto& [name, problem] : cases) {
    const std::string path = regression("torchscript", name);
    const auto r = edgeopt::test::runWithMemoryCap(kOneGiB, [&] {
      alarm(60);
      const std::string error = inspectModelError(path, "torchscript");
      if (!error.empty()) throw std::runtime_error(error);
    });
    CHECK(r.completed);
    CHECK(r.error == path + ": not a readable TorchScript file: " + problem);
  }
  // torch.ao's quantized Conv2d and ConvTranspose2d: their __setstate__
  // assigns the state and prepacks the weights (a method of the class that
  // does the same), so LibTorch loads the file, and the import gets as far as
  // forward's quantized ops.
  const std::string quantized = std::string(EDGEOPT_SOURCE_DIR) + "/tests/fuzz/data/quantized-conv.script.pt";
  const std::string error = inspectModelError(quantized, "torchscript");
  CHECK_THAT(error, Catch::Matchers::StartsWith(quantized + ": unsupported TorchScript operations") &&
                        Catch::Matchers::Contains("quantized::conv2d at 'conv'") &&
                        Catch::Matchers::Contains("quantized::conv_transpose2d at 'up'"));
}

TEST_CASE("torchscript: the importer unrolls at most 1000000 loop iterations in all", "[fuzz][torchscript]") {
  // Made by make_load_time_code_cases.py: forward's two nested loops of
  // 100,000 iterations each. The importer unrolls loops whose trip count is
  // known (100,000 iterations of one at most); edgeopt-inspect (c3d8e95) ran
  // the 10^10 until killed (timeout 30: exit 124). Now 1.5 s, one error.
  const std::string path = regression("torchscript", "forward-nested-loops-1e10.pt");
  const auto r = edgeopt::test::runWithMemoryCap(kOneGiB, [&] {
    alarm(60);
    const std::string error = inspectModelError(path, "torchscript");
    if (!error.empty()) throw std::runtime_error(error);
  });
  CHECK(r.completed);
  CHECK(r.error == path +
                       ": unsupported TorchScript operations (EdgeOpt's IR has no equivalent): prim::Loop at the "
                       "top-level module (make_load_time_code_cases.py:90): loops of more than 1000000 iterations in "
                       "all");
}

TEST_CASE("torchscript: a factory op the importer folds allocates within the memory budget", "[fuzz][torchscript]") {
  // Made by make_load_time_code_cases.py: forward's torch.ones([65536, 32768]).
  // The importer folds ops on constants by running them: edgeopt-inspect
  // (c3d8e95) allocated the 8 GiB (peak RSS 8.6 GB with
  // EDGEOPT_MEMORY_LIMIT_MB=64), then asked for an input shape. Now the size
  // is checked against the budget first.
  const std::string path = regression("torchscript", "forward-allocates-8-gib.pt");
  const auto r = edgeopt::test::runWithMemoryCap(kOneGiB, [&] {
    setenv("EDGEOPT_MEMORY_LIMIT_MB", "64", 1);
    const std::string error = inspectModelError(path, "torchscript");
    if (!error.empty()) throw std::runtime_error(error);
  });
  CHECK(r.completed);
  CHECK(r.error == path +
                       ": unsupported TorchScript operations (EdgeOpt's IR has no equivalent): aten::ones at the "
                       "top-level module (make_load_time_code_cases.py:148): allocates 8589934592 bytes while "
                       "importing, more than the 67108864 bytes of memory available; aten::sum at the top-level "
                       "module (make_load_time_code_cases.py:149)");
}

TEST_CASE("onnx: a Reshape target multiplying past 2^63 is refused without overflowing", "[fuzz][onnx]") {
  // fuzz_onnx's finding (UBSan: signed integer overflow in reshape's shape
  // function, 63771674411008 * 45079976804358); the message was the same
  // without the sanitizer, by luck of the wrapped product.
  const std::string path = regression("onnx", "reshape-product-overflows.onnx");
  CHECK(inspectModelError(path, "onnx_import") ==
        path +
            ": node 'flatten_1' (Reshape): node 'flatten_1' (reshape): cannot reshape [1, 6, 2, 2] to "
            "[63771674411008, 45079976804358, 4]");
}

TEST_CASE("onnx: an empty int64 initializer is read without copying from a null pointer", "[fuzz][onnx]") {
  // fuzz_onnx's finding (UBSan: memcpy from the null data() of an empty
  // int64_data field); the import then stops at the model's real problem.
  const std::string path = regression("onnx", "empty-int64-initializer.onnx");
  CHECK(inspectModelError(path, "onnx_import") ==
        path +
            ": unsupported ONNX operators (EdgeOpt's IR has no equivalent): Gather at node 'select_1_2': indices "
            "other than a scalar or a contiguous range");
}

TEST_CASE("onnx: Unsqueeze axes out of range or given twice are refused before indexing the shape", "[fuzz][onnx]") {
  // fuzz_onnx's finding (ASan: heap-buffer-overflow reading the input shape:
  // axis 3 for a [4, 5] input and one inserted axis, past the output's rank 3,
  // left every position to the input, one more than it has).
  const std::string path = regression("onnx", "unsqueeze-axis-out-of-range.onnx");
  CHECK(inspectModelError(path, "onnx_import") ==
        path +
            ": unsupported ONNX operators (EdgeOpt's IR has no equivalent): Unsqueeze at node 'unsqueeze': axis 3 is "
            "out of range for rank 3");
}

TEST_CASE("onnx: a Conv whose input rank is below its weight rank is refused without libonnx shape inference",
          "[fuzz][onnx]") {
  // fuzz_onnx's finding (SIGSEGV inside libonnx 1.12's convPoolShapeInference,
  // which read the input's dim 3 of 3 when the weight, an initializer or a
  // Constant, had two spatial dims for the input's one). Element types are now
  // inferred on a shape-free skeleton; the importer names the rank mismatch.
  for (const char* file :
       {"conv-input-rank-below-weight-rank.onnx", "conv-constant-weight-rank-above-input-rank.onnx"}) {
    const std::string path = regression("onnx", file);
    const std::string pad = std::string(file).find("constant") != std::string::npos ? "SAME_LOWER" : "SAME_UPPER";
    CHECK(inspectModelError(path, "onnx_import") ==
          path + ": unsupported ONNX operators (EdgeOpt's IR has no equivalent): Conv at node 'conv': auto_pad " + pad +
              ": a 2-d kernel needs an input of rank 4, got [1, 3, 8]");
  }
}

TEST_CASE("onnx: an experimental operator is one error line, without libonnx's own warning", "[fuzz][onnx]") {
  // fuzz_onnx's logs: libonnx's checker printed "Warning: Checker does not
  // support models with experimental ops: Crop" to stderr before the error.
  const std::string path = regression("onnx", "experimental-op-crop.onnx");
  const std::string dir = edgeopt::test::scratchDir("experimental-op");
  const auto r = edgeopt::test::runProgram("edgeopt-inspect", "'" + path + "'", dir, edgeopt::builtinPluginDir());
  CHECK(r.code == 5);
  CHECK(r.err == "error: " + path +
                     ": unsupported ONNX operators (EdgeOpt's IR has no equivalent): Crop at node 'crop' "
                     "(experimental operators)\n");
}
