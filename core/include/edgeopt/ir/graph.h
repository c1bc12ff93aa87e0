#pragma once
// EdgeOpt's graph IR: a small, fx-like SSA graph.
//
// Opcodes (the closed set; `isLegalOpcode` is the one check):
//   Input  a graph input (fx placeholder). target = input name, no inputs.
//   Param  a parameter or buffer of the owning GraphModule, by its state_dict
//          name (fx get_attr). target = tensor name, no inputs. Parameters are
//          graph-visible so that pruning/quantization can rewrite them.
//   Call   an op from the OpRegistry (fx call_function). target = op name
//          ("conv2d"), >= 1 outputs (several for split/chunk).
//   Output the single, last node; its inputs are the graph outputs.
//
// Nodes carry the module they came from: `scope()` lists the enclosing modules
// (path, type) outermost first, like fx's nn_module_stack, and `moduleType()`
// is the innermost (leaf) module type. Node names are unique; for a leaf module
// called once the name equals its path (torchvision state_dict prefix).
//
// Use lists are private to Value and only change through Node's input setters
// and Graph's mutation methods, so they can never drift out of sync.
#include <any>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <type_traits>
#include <variant>
#include <vector>

namespace edgeopt::ir {

enum class Opcode { Input, Param, Call, Output };
const char* toString(Opcode op);
bool isLegalOpcode(int op);

using Ints = std::vector<int64_t>;
using Doubles = std::vector<double>;
using Shape = std::vector<int64_t>;
std::string formatShape(const Shape& s);  // "[1, 3, 224, 224]"

class Node;
class Graph;

// A typed node attribute. Constructors for every C++ spelling of the six types
// avoid std::variant's ambiguous int -> {int64, double, bool} conversion.
class AttrValue {
 public:
  using Variant = std::variant<int64_t, double, bool, std::string, Ints, Doubles>;
  AttrValue(int v) : v_(int64_t{v}) {}
  AttrValue(int64_t v) : v_(v) {}
  AttrValue(double v) : v_(v) {}
  AttrValue(bool v) : v_(v) {}
  AttrValue(const char* v) : v_(std::string(v)) {}
  AttrValue(std::string v) : v_(std::move(v)) {}
  AttrValue(Ints v) : v_(std::move(v)) {}
  AttrValue(Doubles v) : v_(std::move(v)) {}

  const Variant& variant() const { return v_; }
  const char* typeName() const;  // "int", "float", "bool", "string", "ints", "floats"
  std::string str() const;
  bool operator==(const AttrValue& o) const { return v_ == o.v_; }

 private:
  Variant v_;
};
using Attrs = std::map<std::string, AttrValue>;

struct ScopeEntry {
  std::string path;  // "features.3.conv.1"
  std::string type;  // "BatchNorm2d"
  bool operator==(const ScopeEntry& o) const { return path == o.path && type == o.type; }
};
using Scope = std::vector<ScopeEntry>;
std::ostream& operator<<(std::ostream& os, const ScopeEntry& e);  // (path, type), for test output

struct Use {
  Node* user;
  size_t input_index;
};

class Value {
 public:
  Node* producer() const { return producer_; }
  size_t outputIndex() const { return index_; }
  const std::vector<Use>& uses() const { return uses_; }
  std::vector<Node*> users() const;  // distinct, in order of first use
  bool hasUses() const { return !uses_.empty(); }
  std::string displayName() const;   // node name, plus "#i" for outputs after the first

  // Filled by shape propagation (shape_prop.h); empty until it runs.
  const std::optional<Shape>& shape() const { return shape_; }
  void setShape(Shape s) { shape_ = std::move(s); }

 private:
  friend class Node;
  friend class Graph;
  Value(Node* producer, size_t index) : producer_(producer), index_(index) {}
  Node* producer_;
  size_t index_;
  std::vector<Use> uses_;
  std::optional<Shape> shape_;
};

class Node {
 public:
  Opcode opcode() const { return opcode_; }
  const std::string& target() const { return target_; }
  const std::string& name() const { return name_; }
  Graph* owningGraph() const { return graph_; }

  const std::vector<Value*>& inputs() const { return inputs_; }
  Value* input(size_t i) const;
  size_t numInputs() const { return inputs_.size(); }
  // The only ways to change inputs; each keeps the use lists in sync.
  void setInput(size_t i, Value* v);
  void setInputs(std::vector<Value*> values);
  void addInput(Value* v);

  size_t numOutputs() const { return outputs_.size(); }
  Value* output(size_t i = 0) const;
  std::vector<Value*> outputs() const;

  bool hasAttr(const std::string& name) const { return attrs_.count(name) != 0; }
  const AttrValue& attr(const std::string& name) const;  // throws naming the node
  // Typed read; a double attribute also accepts an int value.
  template <class T> T get(const std::string& name) const;
  template <class T> T getOr(const std::string& name, T fallback) const {
    return hasAttr(name) ? get<T>(name) : fallback;
  }
  void setAttr(const std::string& name, AttrValue v);
  void removeAttr(const std::string& name);
  const Attrs& attrs() const { return attrs_; }

  const std::string& moduleType() const { return module_type_; }
  void setModuleType(std::string t) { module_type_ = std::move(t); }
  const Scope& scope() const { return scope_; }
  void setScope(Scope s) { scope_ = std::move(s); }
  // Path of the innermost enclosing module ("" for none). Several nodes may
  // share one (a ReLU module called twice); names stay unique.
  std::string modulePath() const { return scope_.empty() ? std::string() : scope_.back().path; }

  // Free-form analysis results. Documented keys, all written by shape_prop:
  // Call nodes "macs" and "params" (int64_t); Param nodes "is_buffer" (bool).
  std::map<std::string, std::any>& meta() { return meta_; }
  const std::map<std::string, std::any>& meta() const { return meta_; }

  std::string format() const;  // the node's line in Graph::print()

 private:
  friend class Graph;
  Node(Graph* g, Opcode op, std::string target, std::string name, size_t num_outputs);
  void unlinkInput(size_t i);
  void linkInput(size_t i);
  [[noreturn]] void fail(const std::string& message) const;

  Graph* graph_;
  Opcode opcode_;
  std::string target_;
  std::string name_;
  std::vector<Value*> inputs_;
  std::vector<std::unique_ptr<Value>> outputs_;
  Attrs attrs_;
  std::string module_type_;
  Scope scope_;
  std::map<std::string, std::any> meta_;
  std::list<std::unique_ptr<Node>>::iterator position_;
};

class Graph;

// Restores the graph's previous insertion point when it goes out of scope.
class InsertPoint {
 public:
  InsertPoint(InsertPoint&& o) noexcept : graph_(o.graph_), previous_(o.previous_) { o.graph_ = nullptr; }
  InsertPoint(const InsertPoint&) = delete;
  InsertPoint& operator=(const InsertPoint&) = delete;
  ~InsertPoint();

 private:
  friend class Graph;
  InsertPoint(Graph* g, Node* previous) : graph_(g), previous_(previous) {}
  Graph* graph_;
  Node* previous_;
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  ~Graph();

  // Deep copy, meta included.
  std::unique_ptr<Graph> clone() const;

  // Every builder goes through createNode; `name_hint` is made unique.
  Node* createNode(Opcode op, const std::string& target, std::vector<Value*> inputs,
                   size_t num_outputs, const std::string& name_hint);
  Value* input(const std::string& name);
  Value* param(const std::string& tensor_name);
  Node* call(const std::string& op, std::vector<Value*> inputs, Attrs attrs = {},
             const std::string& name_hint = "", size_t num_outputs = 1);
  Node* output(std::vector<Value*> values);

  // New nodes go before `n` (or after it) while the guard lives. By default
  // they go before the Output node, or at the end if there is none.
  [[nodiscard]] InsertPoint insertingBefore(Node* n);
  [[nodiscard]] InsertPoint insertingAfter(Node* n);

  std::vector<Node*> nodes() const;
  std::vector<Value*> inputs() const;
  std::vector<Value*> outputs() const;
  Node* outputNode() const;
  Node* findNode(const std::string& name) const;
  size_t numNodes() const { return nodes_.size(); }

  // Refuses (RuntimeFailure) while any output of `n` has users, naming them.
  void erase(Node* n);
  // Points the uses of `from` accepted by `filter` at `to`; returns the
  // changed nodes.
  std::vector<Node*> replaceAllUsesWith(Value* from, Value* to,
                                        const std::function<bool(Node*)>& filter = {});

  // Throws RuntimeFailure naming the offending node, with the printed graph
  // appended: ownership, topological order, unique names, legal opcodes,
  // known ops and their arity, one trailing Output, consistent use lists.
  void lint() const;
  std::string print() const;

  // Bumped by every mutation: executors cache their plans by it.
  uint64_t version() const { return version_; }
  void touch() { ++version_; }
  std::string uniqueName(const std::string& hint) const;

 private:
  friend class InsertPoint;
  friend class Node;
  [[noreturn]] void failLint(const Node* n, const std::string& message) const;

  std::list<std::unique_ptr<Node>> nodes_;
  std::unordered_map<std::string, Node*> names_;
  Node* insert_before_ = nullptr;  // nullptr: the default place (see insertingBefore)
  uint64_t version_ = 0;
};

template <class T>
T Node::get(const std::string& name) const {
  const auto& v = attr(name).variant();
  if (auto* p = std::get_if<T>(&v)) return *p;
  if constexpr (std::is_same_v<T, double>) {
    if (auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  }
  fail("attribute '" + name + "' is " + attr(name).typeName() + ", read as another type");
}

}  // namespace edgeopt::ir
