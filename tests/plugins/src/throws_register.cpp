// A plugin whose register function throws after adding a factory: nothing it
// added may stay registered.
#include <edgeopt/plugin.h>
#include <edgeopt/stage.h>

#include <stdexcept>

static void registerThenThrow(edgeopt::PluginRegistrar& r) {
  r.add<edgeopt::Stage>("half_registered", {"never committed", {}, nullptr});
  throw std::runtime_error("cannot open my config file");
}

EDGEOPT_PLUGIN("1.0", "throws while registering", registerThenThrow)
