// lowerToOnnx (export_lower.h): walks a GraphModule in topological order and
// hands every Call node to its op's ONNX emitter.
#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/export_lower.h>
#include <edgeopt/ir/shape_prop.h>
#include <edgeopt/version.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <unordered_map>

namespace edgeopt::ir {
namespace {

[[noreturn]] void failExport(const std::string& message) { throw RuntimeFailure("ONNX export: " + message); }

std::vector<Shape> inputShapes(const GraphModule& model, const Graph& g, const OnnxLowerOptions& o) {
  auto inputs = g.inputs();
  if (o.input_shapes.empty() && !model.exampleInputShapes().empty()) {
    if (model.exampleInputShapes().size() != inputs.size())
      failExport("the model records " + std::to_string(model.exampleInputShapes().size()) +
                 " example input shape(s) for " + std::to_string(inputs.size()) + " input(s)");
    return model.exampleInputShapes();
  }
  if (!o.input_shapes.empty()) {
    if (o.input_shapes.size() != inputs.size())
      failExport("the model takes " + std::to_string(inputs.size()) + " input(s), input_shape gives " +
                 std::to_string(o.input_shapes.size()));
    return o.input_shapes;
  }
  std::vector<Shape> out;
  for (Value* v : inputs) {
    if (!v->shape())
      failExport("the model records no shape for input '" + v->producer()->target() +
                 "'; set the exporter's input_shape (e.g. [1, 3, 224, 224])");
    out.push_back(*v->shape());
  }
  return out;
}

std::vector<OnnxDim> dimsOf(const Shape& s, bool symbolic_batch) {
  std::vector<OnnxDim> dims;
  for (size_t i = 0; i < s.size(); ++i) {
    OnnxDim d;
    if (i == 0 && symbolic_batch) d.param = "batch";
    else d.size = s[i];
    dims.push_back(d);
  }
  return dims;
}

// Inference drops the outputs eval mode never computes (kTrainOnlyOutputs)
// and every node that only they used, on the lowering's own copy.
void dropTrainOnlyOutputs(Graph& g) {
  Node* out = g.outputNode();
  if (!out || !out->hasAttr(kTrainOnlyOutputs)) return;
  const Ints drop = out->get<Ints>(kTrainOnlyOutputs);
  std::vector<Value*> kept;
  for (size_t i = 0; i < out->numInputs(); ++i)
    if (std::find(drop.begin(), drop.end(), static_cast<int64_t>(i)) == drop.end()) kept.push_back(out->input(i));
  out->setInputs(kept);
  out->removeAttr(kTrainOnlyOutputs);
  auto nodes = g.nodes();
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    Node* n = *it;
    if (n->opcode() != Opcode::Call && n->opcode() != Opcode::Param) continue;
    bool used = false;
    for (Value* v : n->outputs()) used = used || v->hasUses();
    if (!used) g.erase(n);
  }
}

std::string opsWithEmitters() {
  std::string out;
  for (const auto& name : OpRegistry::instance().names())
    if (OpRegistry::instance().get(name).onnx) out += (out.empty() ? "" : ", ") + name;
  return out;
}

class Lowering {
 public:
  Lowering(const GraphModule& model, const OnnxLowerOptions& o, const OnnxLowerHooks& hooks)
      : model_(model), options_(o), hooks_(hooks), result_{OnnxGraph(o.opset, "edgeopt")} {}

  OnnxModel run() {
    if (options_.opset < 13 || options_.opset > 18)
      failExport("opset " + std::to_string(options_.opset) + " is not supported (13 to 18)");
    graph_ = model_.graph().clone();
    dropTrainOnlyOutputs(*graph_);
    std::vector<Shape> shapes = inputShapes(model_, *graph_, options_);
    propagateShapes(*graph_, shapes, [&](const std::string& name) {
      const at::Tensor& t = model_.tensor(name);
      return ParamInfo{Shape(t.sizes().begin(), t.sizes().end()), model_.isBuffer(name)};
    });
    batch_ = shapes.empty() || shapes[0].empty() ? -1 : shapes[0][0];
    OnnxGraph& g = result_.graph;
    auto nodes = graph_->nodes();
    // Names: graph inputs, then the reserved output names, then parameters
    // (initializers keep their state_dict names), then everything else.
    size_t next_input = 0;
    for (Node* n : nodes)
      if (n->opcode() == Opcode::Input) {
        const Shape& s = shapes[next_input++];
        g.addInput({n->target(), at::kFloat, dimsOf(s, options_.dynamic_batch && !s.empty())});
        names_[n->output()] = n->target();
      }
    reserveOutputNames();
    for (Node* n : nodes)
      if (n->opcode() == Opcode::Param) lowerParam(*n);
    for (Node* n : nodes)
      if (n->opcode() == Opcode::Call) lowerCall(*n);
    finishOutputs();
    result_.graph.removeUnusedInitializers();
    result_.producer_name = "EdgeOpt";
    result_.producer_version = EDGEOPT_VERSION;
    return std::move(result_);
  }

 private:
  void reserveOutputNames() {
    auto outs = graph_->outputs();
    for (size_t i = 0; i < outs.size(); ++i) {
      std::string wanted = i < options_.output_names.size() ? options_.output_names[i]
                           : outs.size() == 1                ? std::string("output")
                                                             : "output_" + std::to_string(i);
      if (result_.graph.isTaken(wanted)) failExport("output name '" + wanted + "' is used twice");
      output_names_.push_back(result_.graph.uniqueName(wanted));
      // The producing node writes the output name directly when it can.
      if (outs[i]->producer()->opcode() == Opcode::Call && !preferred_.count(outs[i]))
        preferred_[outs[i]] = output_names_.back();
    }
  }

  void lowerParam(const Node& n) {
    auto cached = param_names_.find(n.target());
    std::string name;
    if (cached != param_names_.end()) {
      name = cached->second;
    } else {
      const at::Tensor& t = model_.tensor(n.target());
      name = hooks_.param ? hooks_.param(result_.graph, n, t) : result_.graph.addInitializer(n.target(), t);
      param_names_[n.target()] = name;
    }
    names_[n.output()] = name;
    param_tensors_[n.output()] = &model_.tensor(n.target());
  }

  void lowerCall(const Node& n) {
    const OpDef& def = OpRegistry::instance().get(n.target());
    if (!def.onnx)
      failExport("node '" + n.name() + "': op '" + n.target() + "' has no ONNX emitter (ops with one: " +
                 opsWithEmitters() + ")");
    OnnxGraph& g = result_.graph;
    OnnxEmitContext ctx(g, n);
    for (size_t i = 0; i < n.numInputs(); ++i) {
      std::string name = names_.at(n.input(i));
      if (hooks_.input) name = hooks_.input(g, n, i, name);
      ctx.inputs.push_back(name);
    }
    for (size_t i = 0; i < n.numOutputs(); ++i) {
      auto p = preferred_.find(n.output(i));
      ctx.outputs.push_back(p != preferred_.end() && !hooks_.output ? p->second
                                                                    : g.uniqueName(n.output(i)->displayName()));
    }
    ctx.param_tensor = [this](const Value* v) -> const at::Tensor* {
      auto it = param_tensors_.find(v);
      return it == param_tensors_.end() ? nullptr : it->second;
    };
    size_t first = g.nodes().size();
    try {
      def.onnx(ctx);
    } catch (const RuntimeFailure&) {
      throw;
    } catch (const std::exception& e) {
      ctx.fail(e.what());
    }
    for (const auto& out : ctx.outputs) {
      bool made = false;
      for (size_t k = first; k < g.nodes().size() && !made; ++k)
        for (const auto& o : g.nodes()[k].outputs) made = made || o == out;
      if (!made) ctx.fail("the emitter did not produce output '" + out + "'");
    }
    for (size_t i = 0; i < n.numOutputs(); ++i) {
      std::string name = ctx.outputs[i];
      if (hooks_.output) name = hooks_.output(g, n, i, name);
      names_[n.output(i)] = name;
    }
  }

  void finishOutputs() {
    OnnxGraph& g = result_.graph;
    auto outs = graph_->outputs();
    for (size_t i = 0; i < outs.size(); ++i) {
      const std::string& name = names_.at(outs[i]);
      if (name != output_names_[i]) g.addNode("Identity", {name}, {output_names_[i]}, output_names_[i]);
      OnnxValueInfo info{output_names_[i], at::kFloat, std::nullopt};
      if (const auto& s = outs[i]->shape())
        info.shape = dimsOf(*s, options_.dynamic_batch && !s->empty() && (*s)[0] == batch_);
      g.addOutput(std::move(info));
    }
  }

  const GraphModule& model_;
  const OnnxLowerOptions& options_;
  const OnnxLowerHooks& hooks_;
  OnnxModel result_;
  std::unique_ptr<Graph> graph_;
  int64_t batch_ = -1;
  std::unordered_map<const Value*, std::string> names_, preferred_;
  std::unordered_map<const Value*, const at::Tensor*> param_tensors_;
  std::unordered_map<std::string, std::string> param_names_;
  std::vector<std::string> output_names_;
};

}  // namespace

OnnxModel lowerToOnnx(const GraphModule& model, const OnnxLowerOptions& options, const OnnxLowerHooks& hooks) {
  return Lowering(model, options, hooks).run();
}

}  // namespace edgeopt::ir
