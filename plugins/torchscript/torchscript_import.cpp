// TorchScript -> EdgeOpt IR. See torchscript_import.h for the approach.
//
// Phase 1 evaluates `forward` symbolically into a scratch ir::Graph whose
// nodes remember the module invocation ("frame") that emitted them. Phase 2
// drops dead nodes and copies the rest into the GraphModule's graph with their
// final names: a module call that emitted exactly one op (a leaf module such as
// Conv2d) gives that op the module's path ("features.0.0") and type; other ops
// are named "<module path>.<op>" like the zoo builder's functional calls.
//
// ts_import_internal.h lists the files the Importer is split into.
#include "torchscript_import.h"

#include "ts_import_internal.h"

#include <edgeopt/error.h>

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/serialization/import.h>

#include <functional>

namespace edgeopt::torchscript {
namespace detail {

std::shared_ptr<GraphModule> Importer::run() {
  const std::string& path = opt_.path;
  jit::Module module;
  try {
    module = jit::load(path);
  } catch (const std::exception& e) {
    throw InputError(path + ": not a readable TorchScript file (" + firstLine(e.what()) + ")");
  }
  try {
    auto root = module._ivalue();
    registerTensors(root, "");
    frames_.push_back({"", typeBaseName(root->type()), -1});
    jit::Function* forward = root->type()->findMethod("forward");
    if (!forward) throw InputError(path + ": the TorchScript module has no forward method");
    const jit::Graph& graph = *jit::toGraphFunction(*forward).graph();

    std::vector<SVal> args;
    SVal self;
    self.kind = SVal::Kind::Module;
    self.mod = std::make_shared<ModuleRef>(ModuleRef{root, "", frames_[0].type});
    args.push_back(self);
    for (size_t i = 1; i < graph.inputs().size(); ++i) {
      const jit::Value* in = graph.inputs()[i];
      if (in->type()->kind() != c10::TypeKind::TensorType)
        throw InputError(path + ": forward's input '" + in->debugNameBase() + "' is a " + in->type()->repr_str() +
                         "; only tensor inputs are supported");
      auto c = std::make_shared<Cell>();
      c->value = scratch_.input(in->debugNameBase());
      if (i == 1 && opt_.input_shape) c->value->setShape(*opt_.input_shape);
      args.push_back(SVal::tensor(c));
    }

    std::vector<SVal> results;
    try {
      results = callGraph(graph, args);
    } catch (const Abort& a) {
      if (unsupported_.empty()) throw InputError(path + ": " + a.message);
    }

    throwIfUnsupported();
    if (opt_.train && training_reads_ == 0 && !training_ops_.empty())
      throw InputError(path + ": this file was made by torch.jit.trace, which bakes training=False into its " +
                       "batch_norm/dropout calls, so it can't be trained; import it with mode: eval for " +
                       "inference, or save the model with torch.jit.script to train it");

    std::vector<ir::Value*> outs;
    std::function<void(const SVal&)> collect = [&](const SVal& s) {
      if (s.kind == SVal::Kind::List || s.kind == SVal::Kind::Tuple) {
        for (auto& e : *s.elems) collect(e);
        return;
      }
      if (s.isNone()) return;  // e.g. GoogLeNet's aux outputs when they are off
      if (s.isConst() && s.iv.isTuple()) {
        for (const auto& e : s.iv.toTupleRef().elements()) collect(SVal::constant(e));
        return;
      }
      ir::Value* v = valueOf(s);
      if (!v) throw InputError(path + ": forward must return tensors (or tuples/lists of tensors)");
      outs.push_back(v);
    };
    if (results.size() != 1) throw InputError(path + ": forward returns " + std::to_string(results.size()) + " values");
    collect(results[0]);

    auto gm = build(outs);
    if (opt_.input_shape && gm->graph().inputs().size() == 1) gm->setExampleInputShapes({*opt_.input_shape});
    gm->train(opt_.train);
    gm->lint();
    return gm;
  } catch (const Error&) {
    throw;
  } catch (const Abort& a) {
    throw InputError(path + ": " + a.message);
  } catch (const std::exception& e) {
    throw InputError(path + ": cannot import the TorchScript model (" + firstLine(e.what()) + ")");
  }
}

}  // namespace detail

std::shared_ptr<GraphModule> importTorchScript(const ImportOptions& options) {
  detail::Importer importer(options);
  return importer.run();
}

}  // namespace edgeopt::torchscript
