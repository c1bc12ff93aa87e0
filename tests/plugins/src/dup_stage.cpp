// Registers a stage name that the toy_train plugin also registers.
#include <edgeopt/plugin.h>
#include <edgeopt/stage.h>

static void registerDup(edgeopt::PluginRegistrar& r) {
  r.add<edgeopt::Stage>("toy_train", {"clashes with toy_train", {}, nullptr});
}

EDGEOPT_PLUGIN("0.0.1", "duplicate stage name", registerDup)
