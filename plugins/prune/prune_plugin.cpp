// Plugin entry point: the `prune` stage and the built-in pruning
// parametrizations (blend, sigmoid, incremental).
#include "prune_plugin.h"

#include <edgeopt/plugin.h>
#include <edgeopt/stage.h>

namespace {

void registerPrune(edgeopt::PluginRegistrar& r) {
  using namespace edgeopt::prune_plugin;
  r.add<edgeopt::Stage>("prune", pruneStageFactory());
  registerParametrizations(r);
}

}  // namespace

EDGEOPT_PLUGIN("0.1.0", "pruning: the prune stage (unstructured, N:M, channel) and its parametrizations", registerPrune)
