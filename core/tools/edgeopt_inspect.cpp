// edgeopt-inspect: per-layer table of a model (name, op/type, output shape,
// params, MACs, totals), torchinfo-style; --dot writes a Graphviz graph.
#include <edgeopt/fileutil.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/summary.h>
#include <edgeopt/model_loader.h>
#include <edgeopt/plugin_host.h>
#include <edgeopt/runtime.h>
#include <edgeopt/tool_main.h>

#include <CLI/CLI.hpp>

#include <iostream>
#include <sstream>

namespace {

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  return out + "\"";
}

// Call nodes as boxes (name, op, output shape); parameters are folded into
// their consumer's label to keep the picture readable.
std::string graphvizText(const edgeopt::GraphModule& model) {
  using edgeopt::ir::Opcode;
  std::ostringstream dot;
  dot << "digraph model {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n";
  for (edgeopt::ir::Node* n : model.graph().nodes()) {
    if (n->opcode() == Opcode::Param) continue;
    std::string label = n->name() + "\\n" + (n->opcode() == Opcode::Call ? n->target() : edgeopt::ir::toString(n->opcode()));
    if (n->numOutputs() && n->output()->shape()) label += " " + edgeopt::ir::formatShape(*n->output()->shape());
    dot << "  " << quoted(n->name()) << " [label=\"" << label << "\"];\n";
    for (edgeopt::ir::Value* in : n->inputs())
      if (in->producer()->opcode() != Opcode::Param)
        dot << "  " << quoted(in->producer()->name()) << " -> " << quoted(n->name()) << ";\n";
  }
  dot << "}\n";
  return dot.str();
}

}  // namespace

int main(int argc, char** argv) {
  edgeopt::usePassiveOpenMPWait(argv);
  edgeopt::tuneMalloc();
  edgeopt::ignoreFileSizeSignal();
  CLI::App app{"edgeopt-inspect: per-layer summary of a model (.edgeopt, .pt, .onnx or zoo:NAME)"};
  std::string spec, dot_path;
  std::vector<int64_t> shape;
  app.add_option("model", spec, "model file or zoo:NAME")->required();
  app.add_option("--input-shape", shape, "N C H W (default: the model's own); TorchScript and ONNX files import with it")->expected(4)->delimiter(',');
  app.add_option("--dot", dot_path, "also write a Graphviz graph to this file");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return edgeopt::reportError(edgeopt::UsageError(std::string(e.what()) + " (see edgeopt-inspect --help)"));
  }
  for (int64_t d : shape)
    if (d < 1)
      return edgeopt::reportError(edgeopt::UsageError("--input-shape: every size must be at least 1, got " +
                                                      edgeopt::ir::formatShape(shape)));
  return edgeopt::reportErrors([&] {
    edgeopt::PluginHost host;
    host.loadDefaults();
    // A source that takes input_shape (TorchScript, ONNX) imports with it:
    // shapes computed from the input's sizes need it.
    auto model = edgeopt::loadModelSpec(spec, shape);
    if (shape.empty()) {
      if (model->exampleInputShapes().empty())
        throw edgeopt::UsageError(spec + ": the model records no input shape; pass --input-shape N,C,H,W");
      shape = model->exampleInputShapes()[0];
    }
    model->eval();
    edgeopt::ir::ModelSummary summary;
    try {
      summary = edgeopt::ir::summarize(*model, shape);
    } catch (const edgeopt::Error& e) {  // shape propagation: the file is malformed (or --input-shape wrong for it)
      throw edgeopt::InputError(spec + ": " + e.what());
    }
    std::cout << edgeopt::ir::formatSummary(summary);
    if (!dot_path.empty()) edgeopt::atomicWrite(dot_path, graphvizText(*model));
    return 0;
  });
}
