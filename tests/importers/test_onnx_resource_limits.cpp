// Resource limits of the "onnx_import" model source (issue 14): a small file
// whose declared sizes (ConstantOfShape's shape, Expand, Tile, Range, Gather,
// broadcasting, tensor dims, external data ranges) would need more memory than
// there is fails with one InputError naming the file and the node or tensor,
// before allocating. Each model is built here, byte for byte.
#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>

#include "../fuzz/memory_cap.h"
#include "importer_test_util.h"

#include <onnx/onnx_pb.h>

#include <cstdlib>
#include <string>
#include <vector>

using namespace edgeopt;
using Catch::Matchers::StartsWith;

namespace {

using Ints = std::vector<int64_t>;

// A graph y = Relu(x), x: float[1], plus the nodes and initializers a test adds
// (folded while importing: their inputs are all constants).
struct ModelBuilder {
  onnx::ModelProto model;
  onnx::GraphProto* g = model.mutable_graph();

  ModelBuilder() {
    model.set_ir_version(8);
    model.add_opset_import()->set_version(13);
    g->set_name("limits");
    auto value = [](onnx::ValueInfoProto* v, const std::string& name) {
      v->set_name(name);
      auto* t = v->mutable_type()->mutable_tensor_type();
      t->set_elem_type(onnx::TensorProto::FLOAT);
      t->mutable_shape()->add_dim()->set_dim_value(1);
    };
    value(g->add_input(), "x");
    value(g->add_output(), "y");
    node("Relu", "relu", {"x"}, "y");
  }

  onnx::TensorProto* int64s(const std::string& name, const Ints& values, const Ints& dims) {
    onnx::TensorProto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    for (int64_t d : dims) t->add_dims(d);
    for (int64_t v : values) t->add_int64_data(v);
    return t;
  }
  onnx::TensorProto* shape(const std::string& name, const Ints& values) {
    return int64s(name, values, {static_cast<int64_t>(values.size())});
  }
  onnx::TensorProto* scalar(const std::string& name, int64_t value) { return int64s(name, {value}, {}); }

  onnx::NodeProto* node(const std::string& op, const std::string& name, const std::vector<std::string>& inputs,
                        const std::string& output) {
    onnx::NodeProto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const std::string& i : inputs) n->add_input(i);
    n->add_output(output);
    return n;
  }
  // ConstantOfShape filled with int64 zeros (float zeros without it).
  void int64Value(onnx::NodeProto* n) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    a->mutable_t()->set_data_type(onnx::TensorProto::INT64);
    a->mutable_t()->add_dims(1);
    a->mutable_t()->add_int64_data(0);
  }

  std::string write(const std::string& path) {
    std::string bytes;
    model.SerializeToString(&bytes);
    return test::writeText(path, bytes);
  }
};

std::string importError(const std::string& path) {
  try {
    test::loadModel("onnx_import", "path: " + path);
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not an InputError: ") + e.what();
  }
  return "";
}

// The import in a child whose address space may grow by 1 GiB only, with
// EDGEOPT_MEMORY_LIMIT_MB set there when `limit_mb` is not empty: an importer
// that allocates what the file asks for fails there (or finishes) instead of
// exhausting this machine.
test::CappedResult importCapped(const std::string& path, const std::string& limit_mb = "") {
  return test::runWithMemoryCap(uint64_t{1} << 30, [&] {
    if (!limit_mb.empty()) setenv("EDGEOPT_MEMORY_LIMIT_MB", limit_mb.c_str(), 1);
    test::loadModel("onnx_import", "path: " + path);
  });
}

}  // namespace

TEST_CASE("onnx: constants a file declares past the memory available fail before allocating, naming the node",
          "[importers][onnx][limits]") {
  const std::string dir = test::scratchDir("onnx-limits");
  // Under a 1 GiB address space cap, with a 512 MiB budget (EDGEOPT_MEMORY_LIMIT_MB).
  const std::string available = "more than the 536870912 bytes of memory available";
  struct Case {
    std::string name, error;
    ModelBuilder model;
  };
  std::vector<Case> cases(6);
  // 10^18 floats from a 24-byte shape.
  cases[0].name = "constant_of_shape";
  cases[0].model.shape("s", {1000000, 1000000, 1000000});
  cases[0].model.node("ConstantOfShape", "big", {"s"}, "c");
  cases[0].error = "node 'big' (ConstantOfShape): its constant output needs 4000000000000000000 bytes, " + available;
  // A float scalar expanded to 10^18 elements.
  cases[1].name = "expand";
  cases[1].model.node("ConstantOfShape", "one", {"s1"}, "v");
  cases[1].model.shape("s1", {1});
  cases[1].model.shape("s", {1000000, 1000000, 1000000});
  cases[1].model.node("Expand", "wide", {"v", "s"}, "e");
  cases[1].error =
      "node 'wide' (Expand): its constant output needs 4000000000000000000 bytes; with the 4 bytes of "
      "constants computed before it, " +
      available;
  // [1, 1] tiled 10^9 x 10^9 times.
  cases[2].name = "tile";
  cases[2].model.shape("s2", {1, 1});
  cases[2].model.node("ConstantOfShape", "one", {"s2"}, "v");
  cases[2].model.shape("r", {1000000000, 1000000000});
  cases[2].model.node("Tile", "tiles", {"v", "r"}, "t");
  cases[2].error =
      "node 'tiles' (Tile): its constant output needs 4000000000000000000 bytes; with the 4 bytes of "
      "constants computed before it, " +
      available;
  // 0, 1, ..., 10^18 - 1 as int64.
  cases[3].name = "range";
  cases[3].model.scalar("start", 0);
  cases[3].model.scalar("limit", 1000000000000000000);
  cases[3].model.scalar("delta", 1);
  cases[3].model.node("Range", "count", {"start", "limit", "delta"}, "r");
  cases[3].error = "node 'count' (Range): its constant output needs 8000000000000000000 bytes, " + available;
  // 10^6 indices into a [1, 10^6] table (4 MB and 8 MB): 10^12 floats.
  cases[4].name = "gather";
  cases[4].model.shape("sd", {1, 1000000});
  cases[4].model.node("ConstantOfShape", "table", {"sd"}, "d");
  cases[4].model.shape("si", {1000000});
  cases[4].model.int64Value(cases[4].model.node("ConstantOfShape", "zeros", {"si"}, "i"));
  cases[4].model.node("Gather", "rows", {"d", "i"}, "o");
  cases[4].error =
      "node 'rows' (Gather): its constant output needs 4000000000000 bytes; with the 12000000 bytes of "
      "constants computed before it, " +
      available;
  // [10^6, 1] + [1, 10^6] broadcasts to 10^12 floats.
  cases[5].name = "broadcast";
  cases[5].model.shape("sa", {1000000, 1});
  cases[5].model.node("ConstantOfShape", "column", {"sa"}, "a");
  cases[5].model.shape("sb", {1, 1000000});
  cases[5].model.node("ConstantOfShape", "row", {"sb"}, "b");
  cases[5].model.node("Add", "outer", {"a", "b"}, "sum");
  cases[5].error =
      "node 'outer' (Add): its constant output needs 4000000000000 bytes; with the 8000000 bytes of "
      "constants computed before it, " +
      available;
  for (Case& c : cases) {
    INFO(c.name);
    const std::string path = c.model.write(dir + "/" + c.name + ".onnx");
    // Was "unsupported ONNX operators ...: DefaultCPUAllocator: not enough memory" (or the allocation itself).
    const auto r = importCapped(path, "512");
    CHECK(r.completed);
    CHECK(r.error == path + ": " + c.error);
  }
  // Without a budget set: the machine's memory (here 4 * 10^18 bytes is more than any has), exit code 5.
  const std::string big = dir + "/constant_of_shape.onnx";
  CHECK_THAT(importError(big),
             StartsWith(big + ": node 'big' (ConstantOfShape): its constant output needs 4000000000000000000 bytes, "
                              "more than the "));
}

TEST_CASE("onnx: folded constants count together against the memory available", "[importers][onnx][limits]") {
  const std::string dir = test::scratchDir("onnx-limits-total");
  // Three 40 MB constants within a 100 MiB budget: the third does not fit.
  ModelBuilder m;
  m.shape("s", {10000000});
  for (const char* name : {"first", "second", "third"})
    m.node("ConstantOfShape", name, {"s"}, std::string(name) + "_out");
  const std::string path = m.write(dir + "/three.onnx");
  const auto r = importCapped(path, "100");
  CHECK(r.completed);
  CHECK(r.error == path +
                       ": node 'third' (ConstantOfShape): its constant output needs 40000000 bytes; with the 80000000 "
                       "bytes of constants computed before it, more than the 104857600 bytes of memory available");
  // Each alone fits; views of a constant (Identity, Reshape) hold nothing more.
  ModelBuilder views;
  views.shape("s", {10000000});
  views.node("ConstantOfShape", "first", {"s"}, "a");
  views.node("Identity", "same", {"a"}, "b");
  views.shape("flat", {-1});
  views.node("Reshape", "reshaped", {"b", "flat"}, "c");
  views.node("ConstantOfShape", "second", {"s"}, "d");
  const auto fits = importCapped(views.write(dir + "/views.onnx"), "100");
  CHECK(fits.completed);
  CHECK(fits.error == "");
  // The address space RLIMIT_AS leaves counts too: 2 GB under a 1 GiB cap.
  ModelBuilder two_gb;
  two_gb.shape("s", {500000000});
  two_gb.node("ConstantOfShape", "big", {"s"}, "c");
  const std::string capped = two_gb.write(dir + "/two_gb.onnx");
  const auto rlimit = importCapped(capped);
  CHECK(rlimit.completed);
  CHECK_THAT(rlimit.error,
             StartsWith(capped + ": node 'big' (ConstantOfShape): its constant output needs 2000000000 bytes, more "
                                 "than the "));
}

TEST_CASE("onnx: a raw tensor whose byte count wraps past 2^64 is refused, not allocated",
          "[importers][onnx][limits]") {
  const std::string dir = test::scratchDir("onnx-limits-raw");
  // 2^61 + 1 int64s: 8 * (2^61 + 1) wraps to 8, which matched 8 bytes of raw_data.
  ModelBuilder m;
  onnx::TensorProto* t = m.g->add_initializer();
  t->set_name("w");
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims((int64_t{1} << 61) + 1);
  t->set_raw_data(std::string(8, '\0'));
  const std::string path = m.write(dir + "/wrap.onnx");
  CHECK(importError(path) == path + ": tensor 'w' has 8 bytes of data for 2305843009213693953 elements");
}

TEST_CASE("onnx: external data offsets and lengths are checked against the file before reading",
          "[importers][onnx][limits]") {
  const std::string dir = test::scratchDir("onnx-limits-external");
  test::writeText(dir + "/w.bin", std::string(16, '\0'));  // 4 floats
  auto model = [&](const std::string& name, const std::string& offset, const std::string& length) {
    ModelBuilder m;
    onnx::TensorProto* t = m.g->add_initializer();
    t->set_name("w");
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_dims(4);
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    auto entry = [&](const std::string& k, const std::string& v) {
      if (v.empty()) return;
      auto* e = t->add_external_data();
      e->set_key(k);
      e->set_value(v);
    };
    entry("location", "w.bin");
    entry("offset", offset);
    entry("length", length);
    m.node("Add", "add", {"x", "w"}, "z");
    return m.write(dir + "/" + name + ".onnx");
  };
  // The whole file, and its whole range spelled out: both read.
  CHECK(importError(model("whole", "", "")) == "");
  CHECK(importError(model("range", "0", "16")) == "");
  const std::string w = ": tensor 'w': ";
  const std::string bin = dir + "/w.bin";
  // 8 + (2^63 - 1) wrapped to a negative end, which passed "end > size": a 2^63-byte string.
  const std::string wraps = model("wraps", "8", "9223372036854775807");
  CHECK(importError(wraps) ==
        wraps + w + "external data '" + bin + "' has 8 bytes from offset 8, 9223372036854775807 declared");
  const std::string far = model("far", "9223372036854775807", "16");
  CHECK(importError(far) ==
        far + w + "external data offset 9223372036854775807 is past the end of '" + bin + "' (16 bytes)");
  // Were "stoll" (out of range, not a number) and "is shorter than declared" (negative).
  for (const std::string& offset : {"18446744073709551615", "-5", "12abc", " 7"}) {
    INFO(offset);
    const std::string path = model("offset", offset, "4");
    CHECK(importError(path) == path + w + "external data offset '" + offset + "' is not a byte count (0 to 2^63 - 1)");
  }
}

TEST_CASE("onnx: a Reshape target whose product wraps past 2^64 is refused, not taken for the input's size",
          "[importers][onnx][limits]") {
  const std::string dir = test::scratchDir("onnx-limits-reshape");
  // 7905747460161236407 * 7 = 1 (mod 2^64): the wrapped product matched x's one
  // element, and the model imported with a [7905747460161236407, 7] tensor.
  ModelBuilder m;
  m.shape("s", {7905747460161236407, 7});
  m.node("Reshape", "r", {"x", "s"}, "big");
  const std::string path = m.write(dir + "/wrap.onnx");
  CHECK(importError(path) ==
        path + ": node 'r' (Reshape): node 'r' (reshape): cannot reshape [1] to [7905747460161236407, 7]");
  ModelBuilder negative;
  negative.shape("s", {-2, -1});
  negative.node("Reshape", "r", {"x", "s"}, "n");
  const std::string neg = negative.write(dir + "/negative.onnx");
  CHECK(importError(neg) == neg + ": node 'r' (Reshape): node 'r' (reshape): negative size -2 in [-2, -1]");
}
