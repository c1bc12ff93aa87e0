// TorchScript files whose declared sizes LibTorch 1.13 would trust (issue 14):
// each case mutates one size in tests/fuzz/data/tiny.script.pt (a real
// torch.jit.script file, make_tiny_script.py) and must fail with one error
// line naming the file and what is wrong, exit code 5, inside a 1 GiB address
// space, before LibTorch allocates what the size asks for. The valid file
// still imports and computes what LibTorch computes.
#include <ATen/ATen.h>
#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>
#include <torch/csrc/jit/serialization/import.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "cli_runner.h"
#include "memory_cap.h"
#include "model_inspect.h"
#include "test_support.h"
#include "torchscript_archive_check.h"

namespace {

using edgeopt::test::inspectModelError;

constexpr uint64_t kOneGiB = uint64_t{1} << 30;

std::string tinyBytes() {
  return edgeopt::test::readText(std::string(EDGEOPT_SOURCE_DIR) + "/tests/fuzz/data/tiny.script.pt");
}

std::string writeCase(const std::string& name, const std::string& bytes) {
  const std::string dir = std::string(EDGEOPT_TEST_WORK_DIR) + "/torchscript-declared-sizes";
  std::filesystem::create_directories(dir);
  return edgeopt::test::writeText(dir + "/" + name, bytes);
}

// Where `pattern` occurs in `bytes`, the only time.
size_t findOnce(const std::string& bytes, const std::string& pattern) {
  const size_t at = bytes.find(pattern);
  REQUIRE(at != std::string::npos);
  REQUIRE(bytes.find(pattern, at + 1) == std::string::npos);
  return at;
}

void put(std::string& bytes, size_t at, uint64_t value, int width) {
  for (int i = 0; i < width; ++i) bytes[at + i] = static_cast<char>((value >> (8 * i)) & 0xff);
}

// The central directory header of `name` (offset of its "PK\1\2").
size_t centralHeader(const std::string& bytes, const std::string& name) {
  const std::string sig("PK\x01\x02", 4);
  for (size_t at = bytes.find(sig); at != std::string::npos; at = bytes.find(sig, at + 1))
    if (bytes.compare(at + 46, name.size(), name) == 0 &&
        static_cast<uint8_t>(bytes[at + 28]) + 256 * static_cast<uint8_t>(bytes[at + 29]) == name.size())
      return at;
  FAIL("no central directory entry " << name);
  return 0;
}

// The import's error within a 1 GiB address space (LibTorch's allocation of a
// declared size fails there instead of taking the machine).
std::string cappedImportError(const std::string& path) {
  const auto r = edgeopt::test::runWithMemoryCap(kOneGiB, [&] {
    const std::string error = inspectModelError(path, "torchscript");
    if (!error.empty()) throw std::runtime_error(error);
  });
  CHECK(r.completed);
  return r.error;
}

const std::string kNotReadable = ": not a readable TorchScript file: ";

}  // namespace

TEST_CASE("torchscript: the valid fixture passes the archive check and imports as LibTorch runs it",
          "[fuzz][torchscript]") {
  const std::string path = writeCase("valid.pt", tinyBytes());
  std::shared_ptr<edgeopt::GraphModule> model;
  REQUIRE(inspectModelError(path, "torchscript", &model) == "");
  REQUIRE(model);
  model->eval();
  const at::Tensor x = at::linspace(-2, 2, 2 * 1 * 5 * 5).reshape({2, 1, 5, 5});
  auto reference = torch::jit::load(path);
  reference.eval();
  const at::Tensor want = reference.forward({x}).toTensor();
  const at::Tensor got = model->forward({x})[0];
  REQUIRE(got.sizes() == want.sizes());
  CHECK(got.sub(want).abs().max().item<double>() < 1e-6);
  CHECK(want.abs().max().item<double>() > 0.01);  // not a trivially zero output
}

TEST_CASE("torchscript: a pickle string length past its record fails before LibTorch allocates it",
          "[fuzz][torchscript]") {
  // data.pkl's BINUNICODE 'training' declares 2^31 - 16 bytes: LibTorch 1.13's
  // unpickler resizes a string to that length, then finds the archive short.
  std::string bytes = tinyBytes();
  const size_t at = findOnce(bytes, std::string("X\x08\x00\x00\x00training", 13));
  put(bytes, at + 1, 0x7ffffff0, 4);
  const std::string path = writeCase("binunicode-2gib.pt", bytes);
  const std::string pickle_start = std::to_string(at - findOnce(bytes, std::string("\x80\x02\x63__torch__\nTiny", 17)));
  CHECK(cappedImportError(path) == path + kNotReadable + "'tiny.script/data.pkl' at byte " + pickle_start +
                                       ": BINUNICODE declares 2147483632 bytes; the pickle has 972 left");
}

TEST_CASE("torchscript: a memo index past the pickle fails before LibTorch grows its memo table to it",
          "[fuzz][torchscript]") {
  // NONE, LONG_BINPUT 2^31 - 1 at the start of data.pkl: LibTorch inserts
  // 2^31 IValues (32 GiB) into its memo table before reading on.
  std::string bytes = tinyBytes();
  const size_t pickle = findOnce(bytes, std::string("\x80\x02\x63__torch__\nTiny", 17));
  bytes.replace(pickle + 2, 6, std::string("Nr\xff\xff\xff\x7f", 6));
  const std::string path = writeCase("long-binput-2e31.pt", bytes);
  CHECK(cappedImportError(path) ==
        path + kNotReadable +
            "'tiny.script/data.pkl' at byte 3: memo index 2147483647 skips past the 0 memo entries so far");
}

TEST_CASE("torchscript: a compressed record declaring 4 GB fails before LibTorch allocates it", "[fuzz][torchscript]") {
  // data/0 (72 bytes, stored) marked deflated with 0xf0000000 bytes uncompressed
  // in the central directory: PyTorchStreamReader allocates the declared size
  // before inflating.
  std::string bytes = tinyBytes();
  const size_t header = centralHeader(bytes, "tiny.script/data/0");
  put(bytes, header + 10, 8, 2);
  put(bytes, header + 24, 0xf0000000, 4);
  const std::string path = writeCase("record-declares-4gb.pt", bytes);
  CHECK(cappedImportError(path) == path + kNotReadable +
                                       "record 'tiny.script/data/0' declares 4026531840 bytes from 72 compressed, more "
                                       "than deflate expands");

  // Within what deflate can expand to, the memory available decides.
  put(bytes, header + 24, 72 * 1000, 4);
  const std::string within = writeCase("record-declares-72000.pt", bytes);
  CHECK_THROWS_WITH(
      edgeopt::torchscript::checkTorchScriptArchive(within, 50000),
      within + kNotReadable +
          "record 'tiny.script/data/0' declares 72000 bytes, more than the 50000 bytes of memory available");
  // The records' total counts too: the valid file declares 6009 bytes in all
  // besides its 10337 bytes of debug info (5 records), which LibTorch never
  // reads; the importer keeps those that fit in what is left, for messages.
  const std::string valid = writeCase("valid.pt", tinyBytes());
  CHECK(edgeopt::torchscript::checkTorchScriptArchive(valid, 16346).debug_info.size() == 5);
  CHECK(edgeopt::torchscript::checkTorchScriptArchive(valid, 16345).debug_info.size() == 4);
  CHECK(edgeopt::torchscript::checkTorchScriptArchive(valid, 6009).debug_info.empty());
  CHECK_THROWS_WITH(
      edgeopt::torchscript::checkTorchScriptArchive(valid, 6008),
      valid + kNotReadable + "its records declare 6009 bytes in all, more than the 6008 bytes of memory available");
}

TEST_CASE("torchscript: the memory budget comes from EDGEOPT_MEMORY_LIMIT_MB and ulimit -v", "[fuzz][torchscript]") {
  // The same record declaring 70 MiB (a 68 KiB deflate stream could hold it)
  // against a 64 MiB budget, through the plugin as edgeopt-inspect runs it.
  std::string bytes = tinyBytes();
  const size_t header = centralHeader(bytes, "tiny.script/data/0");
  put(bytes, header + 10, 8, 2);
  put(bytes, header + 20, 70 * 1024, 4);
  put(bytes, header + 24, 70 << 20, 4);
  const std::string path = writeCase("record-declares-70mib.pt", bytes);
  const auto r = edgeopt::test::runWithMemoryCap(kOneGiB, [&] {
    setenv("EDGEOPT_MEMORY_LIMIT_MB", "64", 1);
    const std::string error = inspectModelError(path, "torchscript");
    if (!error.empty()) throw std::runtime_error(error);
  });
  CHECK(r.completed);
  CHECK(r.error == path + kNotReadable +
                       "record 'tiny.script/data/0' declares 73400320 bytes, more than the 67108864 bytes of memory "
                       "available");
}

TEST_CASE("torchscript: a record offset past the end of the file is named", "[fuzz][torchscript]") {
  std::string bytes = tinyBytes();
  const size_t header = centralHeader(bytes, "tiny.script/data/1");
  put(bytes, header + 42, 0x7fff0000, 4);
  const std::string path = writeCase("record-offset-past-end.pt", bytes);
  CHECK(cappedImportError(path) ==
        path + kNotReadable +
            "record 'tiny.script/data/1': its local header at bytes 2147418112..2147418142 is past the end of the " +
            std::to_string(bytes.size()) + "-byte file");
}

TEST_CASE("torchscript: tensor sizes reaching past their storage record fail before LibTorch reads past it",
          "[fuzz][torchscript]") {
  // conv.weight [2, 1, 3, 3] made [2, 1, 3, 200]: LibTorch 1.13 sets sizes and
  // strides on the 72-byte storage unchecked, and the import reads 860 bytes.
  std::string bytes = tinyBytes();
  const size_t sizes = findOnce(bytes, std::string("(K\x02K\x01K\x03K\x03t(K\x09K\x09K\x03K\x01t", 20));
  bytes[sizes + 8] = static_cast<char>(200);
  const std::string path = writeCase("weight-sizes-past-storage.pt", bytes);
  const std::string error = cappedImportError(path);
  CHECK_THAT(error, Catch::StartsWith(path + kNotReadable + "'tiny.script/data.pkl' at byte "));
  CHECK_THAT(error, Catch::EndsWith(": _rebuild_tensor_v2: sizes and strides reach byte 860 of a storage of 72 bytes"));

  // A storage declaring more elements than its record holds (18 floats in 72 bytes).
  std::string count = tinyBytes();
  const size_t numel = findOnce(count, std::string("X\x03\x00\x00\x00"
                                                   "cpuq\x0aK\x12t",
                                                   13));
  count[numel + 11] = static_cast<char>(0x13);
  const std::string count_path = writeCase("storage-numel-past-record.pt", count);
  CHECK_THAT(cappedImportError(count_path),
             Catch::EndsWith(": storage '0' declares 19 elements of 4 bytes; its record has 72 bytes"));
}

TEST_CASE("torchscript: edgeopt-inspect prints one error line and exits 5 for a declared size", "[fuzz][torchscript]") {
  std::string bytes = tinyBytes();
  const size_t at = findOnce(bytes, std::string("X\x08\x00\x00\x00training", 13));
  put(bytes, at + 1, 0x7ffffff0, 4);
  const std::string path = writeCase("binunicode-2gib-cli.pt", bytes);
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const auto r = edgeopt::test::runProgram("edgeopt-inspect", "'" + path + "'", dir, edgeopt::builtinPluginDir());
  CHECK(r.code == 5);
  CHECK(r.err == "error: " + path + kNotReadable + "'tiny.script/data.pkl' at byte " +
                     std::to_string(at - findOnce(bytes, std::string("\x80\x02\x63__torch__\nTiny", 17))) +
                     ": BINUNICODE declares 2147483632 bytes; the pickle has 972 left\n");
}
