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

#include <edgeopt/error.h>
#include <edgeopt/ir/export_lower.h>
#include <edgeopt/memory_budget.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/serialization/import.h>

#include <cstdlib>
#include <functional>
#include <set>
#include <sstream>

#include "torchscript_archive_check.h"
#include "torchscript_archive_view.h"
#include "ts_import_internal.h"

namespace edgeopt::torchscript {
namespace detail {

// Registers the module's tensors and evaluates its forward symbolically into
// the scratch graph; returns forward's results (unsupported ops are collected
// for throwIfUnsupported).
std::vector<SVal> Importer::evaluate(const jit::Module& module) {
  const std::string& path = opt_.path;
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
  try {
    return callGraph(graph, args);
  } catch (const Abort& a) {
    if (unsupported_.empty()) throw InputError(path + ": " + a.message);
  }
  return {};
}

namespace {

using LeafPath = std::vector<size_t>;

// The tensors in forward's result, each with its place in the nesting of
// tuples and lists; Nones (GoogLeNet's aux outputs in eval) are left out.
void tensorLeaves(const SVal& s, LeafPath& at, std::vector<std::pair<LeafPath, const SVal*>>& out) {
  if (s.kind == SVal::Kind::List || s.kind == SVal::Kind::Tuple) {
    for (size_t i = 0; i < s.elems->size(); ++i) {
      at.push_back(i);
      tensorLeaves((*s.elems)[i], at, out);
      at.pop_back();
    }
    return;
  }
  if (s.isNone()) return;
  if (s.isConst() && s.iv.isTuple()) {
    const auto& elems = s.iv.toTupleRef().elements();
    for (size_t i = 0; i < elems.size(); ++i) {
      at.push_back(i);
      if (!elems[i].isNone()) out.emplace_back(at, nullptr);  // only the place matters here
      at.pop_back();
    }
    return;
  }
  out.emplace_back(at, &s);
}

}  // namespace

// In train mode: the places of forward's outputs that eval mode leaves None
// (GoogLeNet's aux logits: `if self.training and self.aux_logits`), found by
// evaluating forward again with training=False. Empty when eval mode returns
// every output, or can't be evaluated.
std::set<LeafPath> Importer::trainOnlyLeaves(const jit::Module& module, const std::vector<SVal>& train_results) {
  if (!opt_.train || training_reads_ == 0 || train_results.size() != 1) return {};
  ImportOptions eval_options = opt_;
  eval_options.train = false;
  Importer eval(eval_options);
  eval.debug_info_ = debug_info_;
  std::vector<SVal> eval_results;
  try {
    eval_results = eval.evaluate(module);
  } catch (...) {  // eval mode unsupported: nothing is known to be train-only
    return {};
  }
  if (eval_results.size() != 1 || !eval.unsupported_.empty()) return {};
  std::vector<std::pair<LeafPath, const SVal*>> train_leaves, eval_leaves;
  LeafPath at;
  tensorLeaves(train_results[0], at, train_leaves);
  tensorLeaves(eval_results[0], at, eval_leaves);
  std::set<LeafPath> in_eval, out;
  for (const auto& [p, _] : eval_leaves) in_eval.insert(p);
  for (const auto& [p, _] : train_leaves)
    if (!in_eval.count(p)) out.insert(p);
  return out;
}

namespace {

// The first line of the edgeopt_input_shapes record ("1,3,224,224"); nullopt when malformed.
std::optional<ir::Shape> recordedShape(const std::string& text) {
  ir::Shape shape;
  std::string line = text.substr(0, text.find('\n')), item;
  std::istringstream in(line);
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > (1LL << 31)) return std::nullopt;
    shape.push_back(v);
  }
  if (shape.empty()) return std::nullopt;
  return shape;
}

}  // namespace

std::shared_ptr<GraphModule> Importer::run() {
  const std::string& path = opt_.path;
  jit::Module module;
  // LibTorch allocates what the archive declares: its sizes are checked
  // first. It reads the archive without its debug info, which the importer
  // reads itself (torchscript_archive_check.h).
  CheckedArchive checked = checkTorchScriptArchive(path, availableMemoryBytes());
  debug_info_ = std::make_shared<DebugInfo>(std::move(checked.debug_info));
  try {
    jit::ExtraFilesMap extra{{"edgeopt_input_shapes", ""}};
    module = jit::load(std::make_shared<ArchiveWithoutDebugInfo>(path, checked), c10::nullopt, extra);
    // EdgeOpt's own export records the model's input shape; input_shape wins.
    if (!opt_.input_shape && !extra["edgeopt_input_shapes"].empty())
      opt_.input_shape = recordedShape(extra["edgeopt_input_shapes"]);
  } catch (const std::exception& e) {
    throw InputError(path + ": not a readable TorchScript file (" + firstLine(e.what()) + ")");
  }
  try {
    std::vector<SVal> results = evaluate(module);
    throwIfUnsupported();
    if (opt_.train && training_reads_ == 0 && !training_ops_.empty())
      throw InputError(path + ": this file was made by torch.jit.trace, which bakes training=False into its " +
                       "batch_norm/dropout calls, so it can't be trained; import it with mode: eval for " +
                       "inference, or save the model with torch.jit.script to train it");

    std::vector<ir::Value*> outs;
    std::vector<LeafPath> places;
    LeafPath at;
    std::function<void(const SVal&)> collect = [&](const SVal& s) {
      if (s.kind == SVal::Kind::List || s.kind == SVal::Kind::Tuple) {
        for (size_t i = 0; i < s.elems->size(); ++i) {
          at.push_back(i);
          collect((*s.elems)[i]);
          at.pop_back();
        }
        return;
      }
      if (s.isNone()) return;  // e.g. GoogLeNet's aux outputs when they are off
      if (s.isConst() && s.iv.isTuple()) {
        const auto& elems = s.iv.toTupleRef().elements();
        for (size_t i = 0; i < elems.size(); ++i) {
          at.push_back(i);
          collect(SVal::constant(elems[i]));
          at.pop_back();
        }
        return;
      }
      ir::Value* v = valueOf(s);
      if (!v) throw InputError(path + ": forward must return tensors (or tuples/lists of tensors)");
      outs.push_back(v);
      places.push_back(at);
    };
    if (results.size() != 1) throw InputError(path + ": forward returns " + std::to_string(results.size()) + " values");
    collect(results[0]);

    auto gm = build(outs);
    // Outputs eval mode never computes: exporting for inference drops them.
    const std::set<LeafPath> train_only = trainOnlyLeaves(module, results);
    ir::Ints train_only_outputs;
    for (size_t i = 0; i < places.size(); ++i)
      if (train_only.count(places[i])) train_only_outputs.push_back(static_cast<int64_t>(i));
    if (!train_only_outputs.empty() && train_only_outputs.size() < outs.size())
      gm->graph().outputNode()->setAttr(ir::kTrainOnlyOutputs, train_only_outputs);
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
