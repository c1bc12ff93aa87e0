#pragma once
// ONNX op -> IR op converters and constant folders, each looked up by op type
// in one table. A node whose inputs are all constants is folded when its op
// has a folder (onnx_constant_folding.cpp); otherwise its converter emits IR.
// Each onnx_ops_<family>.cpp registers its converters in its add*Converters
// function, so supporting another op is one converter and one registration in
// that file. An op in neither table is reported as unsupported.
#include "onnx_import_internal.h"

#include <stdexcept>

namespace edgeopt::onnx_import::detail {

template <typename Fn>
class OpTable {
 public:
  // Throws std::logic_error when `op_type` is registered twice.
  void add(const std::string& op_type, Fn fn) {
    if (!fns_.emplace(op_type, fn).second) throw std::logic_error("ONNX op " + op_type + " is registered twice");
  }
  Fn find(const std::string& op_type) const {  // nullptr if unknown
    auto it = fns_.find(op_type);
    return it == fns_.end() ? nullptr : it->second;
  }

 private:
  std::unordered_map<std::string, Fn> fns_;
};

// Sets the node's outputs through NodeContext::setOut, or fails (NodeContext::fail).
using NodeConverter = void (*)(NodeContext&);
using ConverterTable = OpTable<NodeConverter>;

// The inputs of a node whose inputs are all constants; an absent optional
// input is an undefined tensor.
class ConstInputs {
 public:
  ConstInputs(const NodeContext& node, std::vector<at::Tensor> inputs) : node(node), inputs_(std::move(inputs)) {}

  const NodeContext& node;  // attributes and opset
  size_t size() const { return inputs_.size(); }
  bool has(size_t i) const { return i < inputs_.size() && inputs_[i].defined(); }
  const at::Tensor& arg(size_t i) const {  // fails when absent
    if (!has(i)) node.fail("input " + std::to_string(i) + " is missing");
    return inputs_[i];
  }

 private:
  std::vector<at::Tensor> inputs_;
};

// Returns the node's outputs, computed with ATen.
using ConstantFolder = std::vector<at::Tensor> (*)(const ConstInputs&);
using FolderTable = OpTable<ConstantFolder>;

// An upper bound of the bytes the folder of c.node's op allocates, from the
// inputs' shapes and values, computed before folding (saturates at 2^64 - 1).
uint64_t foldedOutputBytes(const ConstInputs& c);

// Every converter and folder, registered once on first use.
const ConverterTable& converters();
const FolderTable& constantFolders();

// One per onnx_ops_<family>.cpp.
void addConvLinearConverters(ConverterTable& table);
void addPoolResizeConverters(ConverterTable& table);
void addNormConverters(ConverterTable& table);
void addActivationConverters(ConverterTable& table);
void addArithmeticConverters(ConverterTable& table);
void addShapeConverters(ConverterTable& table);
void addTensorConverters(ConverterTable& table);
void addQuantConverters(ConverterTable& table);
void addConstantFolders(FolderTable& table);  // onnx_constant_folding.cpp

}  // namespace edgeopt::onnx_import::detail
