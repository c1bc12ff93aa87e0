// The surgery plugin: the `surgery` stage and the built-in rules.
#include "surgery_stage.h"

namespace edgeopt::surgery {

const ir::Shape* knownShape(const ir::Value* v) { return v->shape() ? &*v->shape() : nullptr; }

namespace {

void registerAll(PluginRegistrar& r) {
  registerSurgeryStage(r);
  registerActivationRules(r);
  registerSeRule(r);
  registerPoolRules(r);
  registerConvRules(r);
  registerResizeRule(r);
  registerInputLayoutRule(r);
  registerFocusRule(r);
  registerLayerNormRule(r);
  registerConvNeXtRule(r);
}

}  // namespace
}  // namespace edgeopt::surgery

EDGEOPT_PLUGIN("0.1.0", "model surgery stage and rules (TI lite table, recipe rules, module-level)",
               edgeopt::surgery::registerAll)
