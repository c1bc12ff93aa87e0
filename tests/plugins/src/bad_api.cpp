// A plugin built for a plugin API version this EdgeOpt does not support.
#include <edgeopt/plugin.h>

static void registerNothing(edgeopt::PluginRegistrar&) {}
static const edgeopt::PluginInfo info = {99, "bad_api", "1.0", "future plugin", registerNothing};
static const edgeopt::PluginInfo* badApiInfo() { return &info; }
BOOST_DLL_ALIAS(badApiInfo, edgeopt_plugin_info)
