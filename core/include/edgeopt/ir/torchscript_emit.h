#pragma once
// TorchScript emission (OpDef::torchscript). Lowering (emitTorchScript,
// torchscript_lower.h) writes one `def forward(self, ...)` whose statements
// assign each Call node's result to a local; an op's emitter returns the
// expression for its node from the expressions of its inputs:
//
//   std::string reluScript(ScriptEmitContext& ctx) { return "torch.relu(" + ctx.inputs[0] + ")"; }
//   std::string convScript(ScriptEmitContext& ctx) {
//     return ctx.call("torch.conv2d", {ctx.inputs[0], ctx.inputs[1], ctx.inputOr(2, "None"),
//                                      script::ints(stride), ...});
//   }
//
// Inputs are plain names (locals or hoisted parameter reads), so emitters may
// repeat them freely. `ctx.training()` is the module's training flag: use it
// where PyTorch behaves differently in training (batch_norm, dropout). Every
// aten op is reachable as torch.<name> (Module::define maps it to aten::<name>).
#include <edgeopt/ir/graph.h>
#include <edgeopt/ir/op_registry.h>

#include <string>
#include <vector>

namespace edgeopt::ir {

struct ScriptEmitContext {
  explicit ScriptEmitContext(const Node& n) : node(n) {}

  const Node& node;
  std::vector<std::string> inputs;  // expressions of node.inputs(), in order
  // The Param state_dict name behind each input ("" for other values), so an
  // emitter can address a buffer it updates in place.
  std::vector<std::string> input_params;
  // Statements (one per entry; may hold nested lines separated by '\n',
  // indented relative to the first) emitted before the node's assignment.
  std::vector<std::string> statements;

  std::string training() const { return "self.training"; }
  // Input i's expression, or `fallback` ("None") when the node has fewer inputs.
  std::string inputOr(size_t i, const std::string& fallback) const;
  void addStatement(std::string s) { statements.push_back(std::move(s)); }
  // "fn(a, b, ...)"
  static std::string call(const std::string& fn, const std::vector<std::string>& args);
  // Throws RuntimeFailure "TorchScript export: node 'n' (op): message".
  [[noreturn]] void fail(const std::string& message) const;
};

// Literals in TorchScript syntax.
namespace script {
std::string ints(const Ints& v);          // "[1, 2]"
std::string number(double v);             // "0.001", "6.0" (always a float literal, round-trips)
std::string integer(int64_t v);           // "3"
std::string boolean(bool v);              // "True" / "False"
std::string string(const std::string& v); // "'none'" (escaped)
}  // namespace script

}  // namespace edgeopt::ir
