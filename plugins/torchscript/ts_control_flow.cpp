// Control flow specialised while importing: the IR has no branches or loops,
// so prim::If takes the branch its (constant) condition selects and prim::Loop
// is unrolled when its trip count is known. Conditions known only at run time
// are accepted where they guard nothing but run-time checks.
#include "ts_import_internal.h"

namespace edgeopt::torchscript::detail {
namespace {

// True if the block (recursively) calls methods/functions or touches tensors:
// skipping such a block would change the model, skipping others only loses
// run-time checks.
bool hasTensorEffects(const jit::Block* b) {
  for (const jit::Node* n : b->nodes()) {
    if (n->kind() == c10::prim::CallMethod || n->kind() == c10::prim::CallFunction) return true;
    for (const jit::Value* v : n->inputs())
      if (typeHasTensor(v->type())) return true;
    for (const jit::Value* v : n->outputs())
      if (typeHasTensor(v->type())) return true;
    for (const jit::Block* sub : n->blocks())
      if (hasTensorEffects(sub)) return true;
  }
  return false;
}

// A branch that raises directly is a run-time check (`if x.dim() != 4: raise ...`).
bool raisesAtTopLevel(const jit::Block* b) {
  for (const jit::Node* n : b->nodes())
    if (n->kind() == c10::prim::RaiseException) return true;
  return false;
}

}  // namespace

void Importer::runIf(const jit::Node* n, Env& env) {
  // A condition tainted by an unsupported op is treated like a run-time one.
  const SVal& cond = get(env, n->input(0));
  const jit::Block* chosen = nullptr;
  if (auto c = asBool(cond)) {
    chosen = n->blocks()[*c ? 0 : 1];
  } else {
    bool raise0 = raisesAtTopLevel(n->blocks()[0]), raise1 = raisesAtTopLevel(n->blocks()[1]);
    if (raise0 != raise1) {
      chosen = n->blocks()[raise0 ? 1 : 0];  // a run-time check: the model is assumed valid
    } else if (!hasTensorEffects(n->blocks()[0]) && !hasTensorEffects(n->blocks()[1])) {
      return setAllDynamic(n, env);
    } else {
      unsupported(n, "control flow that depends on values known only at run time");
      return setAllDynamic(n, env);
    }
  }
  runBlock(chosen, env);
  std::vector<SVal> outs;
  for (const jit::Value* v : chosen->outputs()) outs.push_back(get(env, v));
  setOutputs(n, env, std::move(outs));
}

void Importer::runLoop(const jit::Node* n, Env& env) {
  const jit::Block* body = n->blocks()[0];
  auto trips = asInt(get(env, n->input(0)));
  auto cond = asBool(get(env, n->input(1)));
  std::vector<SVal> carried;
  for (size_t i = 2; i < n->inputs().size(); ++i) carried.push_back(get(env, n->input(i)));
  if (!trips || !cond) {
    if (!hasTensorEffects(body)) return setAllDynamic(n, env);
    unsupported(n, "a loop whose trip count is known only at run time");
    return setAllDynamic(n, env);
  }
  bool go = *cond;
  for (int64_t i = 0; i < *trips && go; ++i) {
    if (i >= kMaxLoopIterations) {
      unsupported(n, "a loop with more than " + std::to_string(kMaxLoopIterations) + " iterations");
      return setAllDynamic(n, env);
    }
    // Nested loops multiply: two of 100,000 each ran 10^10 iterations.
    if (++loop_iterations_ > kMaxLoopIterationsInAll) {
      unsupported(n, "loops of more than " + std::to_string(kMaxLoopIterationsInAll) + " iterations in all");
      return setAllDynamic(n, env);
    }
    env[body->inputs()[0]] = SVal::constant(i);
    for (size_t k = 0; k < carried.size(); ++k) env[body->inputs()[k + 1]] = carried[k];
    runBlock(body, env);
    auto c = asBool(get(env, body->outputs()[0]));
    if (!c) {
      unsupported(n, "a loop whose condition is known only at run time");
      return setAllDynamic(n, env);
    }
    go = *c;
    for (size_t k = 0; k < carried.size(); ++k) carried[k] = get(env, body->outputs()[k + 1]);
  }
  setOutputs(n, env, std::move(carried));
}

}  // namespace edgeopt::torchscript::detail
