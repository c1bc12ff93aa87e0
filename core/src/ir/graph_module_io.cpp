// GraphModule::save / load: EdgeOpt's own checkpoint format (graph_module.h).
// Every problem in a file is an InputError that starts with the path; no
// field of the file is trusted before it has been range-checked.
#include <edgeopt/error.h>
#include <edgeopt/fileutil.h>
#include <edgeopt/graph_module.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstring>

namespace edgeopt {
namespace {

using nlohmann::json;
constexpr char kMagic[8] = {'E', 'D', 'G', 'E', 'O', 'P', 'T', '\0'};
constexpr uint32_t kFormatVersion = 1;

const std::vector<std::pair<const char*, at::ScalarType>>& dtypeTable() {
  static const std::vector<std::pair<const char*, at::ScalarType>> table = {
      {"float32", at::kFloat}, {"float64", at::kDouble}, {"float16", at::kHalf}, {"bfloat16", at::kBFloat16},
      {"int64", at::kLong},    {"int32", at::kInt},      {"int16", at::kShort}, {"int8", at::kChar},
      {"uint8", at::kByte},    {"bool", at::kBool}};
  return table;
}

std::string dtypeName(at::ScalarType t) {
  for (auto& [name, type] : dtypeTable())
    if (type == t) return name;
  throw RuntimeFailure(std::string("save: unsupported tensor dtype ") + c10::toString(t));
}

at::ScalarType dtypeFromName(const std::string& name) {
  for (auto& [n, type] : dtypeTable())
    if (name == n) return type;
  throw std::runtime_error("unknown dtype '" + name + "'");
}

json attrToJson(const ir::AttrValue& a) {
  json j{{"type", a.typeName()}};
  std::visit([&](const auto& v) { j["value"] = v; }, a.variant());
  return j;
}

ir::AttrValue attrFromJson(const json& j) {
  std::string type = j.at("type").get<std::string>();
  const json& v = j.at("value");
  if (type == "int") return v.get<int64_t>();
  if (type == "float") return v.get<double>();
  if (type == "bool") return v.get<bool>();
  if (type == "string") return v.get<std::string>();
  if (type == "ints") return v.get<ir::Ints>();
  if (type == "floats") return v.get<ir::Doubles>();
  throw std::runtime_error("unknown attribute type '" + type + "'");
}

json graphToJson(const ir::Graph& g) {
  std::unordered_map<const ir::Node*, size_t> index;
  json nodes = json::array();
  for (const ir::Node* n : g.nodes()) {
    index[n] = index.size();
    json inputs = json::array();
    for (const ir::Value* v : n->inputs()) inputs.push_back({index.at(v->producer()), v->outputIndex()});
    json attrs = json::object();
    for (auto& [k, a] : n->attrs()) attrs[k] = attrToJson(a);
    json scope = json::array();
    for (auto& s : n->scope()) scope.push_back({s.path, s.type});
    nodes.push_back({{"op", ir::toString(n->opcode())}, {"target", n->target()}, {"name", n->name()},
                     {"inputs", inputs}, {"outputs", n->numOutputs()}, {"attrs", attrs},
                     {"module_type", n->moduleType()}, {"scope", scope}});
  }
  return nodes;
}

std::unique_ptr<ir::Graph> graphFromJson(const json& nodes) {
  auto g = std::make_unique<ir::Graph>();
  std::vector<ir::Node*> made;
  for (const json& j : nodes) {
    std::string op = j.at("op").get<std::string>();
    ir::Opcode code = op == "input" ? ir::Opcode::Input
                      : op == "param" ? ir::Opcode::Param
                      : op == "call"  ? ir::Opcode::Call
                      : op == "output" ? ir::Opcode::Output
                                       : throw std::runtime_error("node " + std::to_string(made.size()) +
                                                                  ": unknown opcode '" + op + "'");
    std::vector<ir::Value*> inputs;
    for (const json& ref : j.at("inputs")) {
      size_t producer = ref.at(0).get<size_t>(), out = ref.at(1).get<size_t>();
      if (producer >= made.size() || out >= made[producer]->numOutputs())
        throw std::runtime_error("node '" + j.at("name").get<std::string>() + "' uses an undefined value");
      inputs.push_back(made[producer]->output(out));
    }
    size_t outputs = j.at("outputs").get<size_t>();
    if (outputs > 4096) throw std::runtime_error("node has an implausible output count");
    ir::Node* n = g->createNode(code, j.at("target").get<std::string>(), std::move(inputs), outputs,
                                j.at("name").get<std::string>());
    for (auto& [k, a] : j.at("attrs").items()) n->setAttr(k, attrFromJson(a));
    n->setModuleType(j.at("module_type").get<std::string>());
    ir::Scope scope;
    for (const json& s : j.at("scope")) scope.push_back({s.at(0).get<std::string>(), s.at(1).get<std::string>()});
    n->setScope(std::move(scope));
    made.push_back(n);
  }
  return g;
}

template <class T>
void putLE(std::string& out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff));
}

template <class T>
T getLE(const std::string& in, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return static_cast<T>(v);
}

}  // namespace

void GraphModule::save(const std::string& path, const std::string& user_meta_json) const {
  json tensors = json::array();
  std::vector<at::Tensor> data;
  uint64_t offset = 0;
  for (auto& e : entries_) {
    at::Tensor t = e.tensor.detach().to(at::kCPU).contiguous();
    uint64_t nbytes = t.numel() * t.element_size();
    tensors.push_back({{"name", e.name}, {"kind", e.is_buffer ? "buffer" : "parameter"},
                       {"dtype", dtypeName(t.scalar_type())}, {"shape", t.sizes().vec()},
                       {"offset", offset}, {"nbytes", nbytes}, {"requires_grad", e.tensor.requires_grad()}});
    offset += nbytes;
    data.push_back(t);
  }
  json header{{"graph", graphToJson(*graph_)}, {"tensors", tensors}, {"training", training_},
              {"user_meta", user_meta_json}, {"example_input_shapes", example_input_shapes_}};
  std::string head = header.dump();
  std::string prefix(kMagic, sizeof(kMagic));
  putLE<uint32_t>(prefix, kFormatVersion);
  putLE<uint64_t>(prefix, head.size());
  // Raw bytes are written in host order: EdgeOpt targets little-endian hosts.
  atomicWrite(path, [&](std::ostream& out) {
    out.write(prefix.data(), prefix.size());
    out.write(head.data(), head.size());
    for (auto& t : data) out.write(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  });
}

std::shared_ptr<GraphModule> GraphModule::load(const std::string& path, std::string* user_meta_json) {
  std::string bytes = readFile(path);
  auto bad = [&](const std::string& why) { return InputError(path + ": " + why); };
  const size_t fixed = sizeof(kMagic) + 4 + 8;
  if (bytes.size() < fixed || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0)
    throw bad("not an EdgeOpt model file (bad magic; expected \"EDGEOPT\\0\")");
  uint32_t version = getLE<uint32_t>(bytes, sizeof(kMagic));
  if (version != kFormatVersion)
    throw bad("format version " + std::to_string(version) + " is not supported (this build reads " +
              std::to_string(kFormatVersion) + ")");
  uint64_t head_len = getLE<uint64_t>(bytes, sizeof(kMagic) + 4);
  if (head_len > bytes.size() - fixed)
    throw bad("truncated: header says " + std::to_string(head_len) + " bytes, file has " +
              std::to_string(bytes.size() - fixed) + " after the prefix");
  const size_t data_start = fixed + head_len;
  const uint64_t data_size = bytes.size() - data_start;
  try {
    json header = json::parse(bytes.begin() + fixed, bytes.begin() + data_start);
    auto gm = std::make_shared<GraphModule>(graphFromJson(header.at("graph")));
    for (const json& t : header.at("tensors")) {
      std::string name = t.at("name").get<std::string>();
      at::ScalarType dtype = dtypeFromName(t.at("dtype").get<std::string>());
      std::vector<int64_t> shape = t.at("shape").get<std::vector<int64_t>>();
      uint64_t offset = t.at("offset").get<uint64_t>(), nbytes = t.at("nbytes").get<uint64_t>();
      uint64_t expected = c10::elementSize(dtype);
      for (int64_t d : shape) {
        if (d < 0 || (d > 0 && expected > (uint64_t{1} << 40) / static_cast<uint64_t>(d)))
          throw std::runtime_error("tensor '" + name + "' has an invalid shape");
        expected *= static_cast<uint64_t>(d);
      }
      if (nbytes != expected) throw std::runtime_error("tensor '" + name + "' size does not match its shape");
      if (offset > data_size || nbytes > data_size - offset)
        throw std::runtime_error("truncated: tensor '" + name + "' needs bytes " + std::to_string(offset) + ".." +
                                 std::to_string(offset + nbytes) + ", data has " + std::to_string(data_size));
      at::Tensor tensor = at::empty(shape, at::TensorOptions().dtype(dtype));
      if (nbytes) std::memcpy(tensor.data_ptr(), bytes.data() + data_start + offset, nbytes);
      if (t.at("kind").get<std::string>() == "buffer") gm->registerBuffer(name, tensor);
      else gm->registerParameter(name, tensor, t.at("requires_grad").get<bool>());
    }
    gm->training_ = header.at("training").get<bool>();
    if (header.contains("example_input_shapes"))
      gm->example_input_shapes_ = header["example_input_shapes"].get<std::vector<ir::Shape>>();
    gm->lint();
    if (user_meta_json) *user_meta_json = header.at("user_meta").get<std::string>();
    return gm;
  } catch (const std::exception& e) {
    // lint appends the printed graph (a thousand lines for a real model) for
    // developers; the user gets the line naming the node, the log the graph.
    const std::string what = errorText(e);
    if (what.find('\n') != std::string::npos) spdlog::debug("{}: {}", path, what);
    throw bad("corrupted model file: " + firstLine(what));
  }
}

}  // namespace edgeopt
