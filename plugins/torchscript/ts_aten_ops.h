#pragma once
// aten op -> IR op converters. Importer::mapOp looks a node's aten name up in
// one table (in-place spellings such as relu_ share their entry with relu);
// each ts_aten_ops_<family>.cpp registers its converters in its add*Ops
// function, so supporting another op is one converter and one registration in
// that file. An op missing from the table is reported as unsupported.
#include "ts_import_internal.h"

namespace edgeopt::torchscript::detail {

// One aten node being converted: its inputs, and the Importer services a
// converter may use. Every converter ends in exactly one of done/unary/fail/
// setResult, which set the node's output.
class OpContext {
 public:
  OpContext(Importer& importer, const jit::Node* node, Env& env, const std::vector<SVal>& in, std::string base,
            bool inplace);

  const std::vector<SVal>& in;  // the node's inputs
  const std::string base;       // aten name without "aten::" and the in-place '_': "relu" for aten::relu_
  const bool inplace;

  // The IR value of input i; nullptr when it is absent or not a tensor.
  ir::Value* tensorAt(size_t i);
  // Records the node as unsupported (with why, when reason is non-empty).
  void fail(const std::string& reason);
  // The op's result; an in-place op makes it its first input's new value.
  void done(ir::Value* v);
  // A one-input IR op on input 0.
  void unary(const std::string& op, Attrs attrs = {});
  // A result that is not a fresh IR value: an alias of an input, a list of pieces.
  void setResult(SVal s);

  ir::Value* emit(const std::string& op, std::vector<ir::Value*> inputs, Attrs attrs = {});
  ir::Node* emitNode(const std::string& op, std::vector<ir::Value*> inputs, Attrs attrs, size_t num_outputs);
  ir::Value* valueOf(const SVal& s);
  SVal result(ir::Value* v);
  // IR ops added after the importer: mapped only when the registry has them.
  bool hasOp(const std::string& op) const;
  // batch_norm and dropout behave differently when training; a traced file
  // that calls them without reading self.training can't train.
  void recordTrainingOp();
  // The module's parameter or buffer with this state_dict name; nullptr if none.
  ir::Value* moduleTensor(const std::string& name);

 private:
  Importer& importer_;
  const jit::Node* node_;
  Env& env_;
};

using AtenConverter = void (*)(OpContext&);

class AtenOpTable {
 public:
  // Throws std::logic_error when `aten_name` is registered twice.
  void add(const std::string& aten_name, AtenConverter convert);
  AtenConverter find(const std::string& aten_name) const;  // nullptr if unknown

 private:
  std::unordered_map<std::string, AtenConverter> converters_;
};

// Every converter, registered once on first use.
const AtenOpTable& atenOps();

// True for aten ops the table knows, whatever their arguments: downstream of an
// unsupported op only the others are reported.
bool isMappedOp(const std::string& base);

// One per ts_aten_ops_<family>.cpp.
void addConvLinearOps(AtenOpTable& table);
void addNormOps(AtenOpTable& table);
void addActivationOps(AtenOpTable& table);
void addArithmeticOps(AtenOpTable& table);
void addShapeOps(AtenOpTable& table);
void addPoolResizeOps(AtenOpTable& table);
void addQuantOps(AtenOpTable& table);
void addWindowOps(AtenOpTable& table);
void addMathOps(AtenOpTable& table);

}  // namespace edgeopt::torchscript::detail
