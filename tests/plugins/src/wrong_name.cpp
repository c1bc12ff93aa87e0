// A plugin whose reported name does not match its file name.
#include <edgeopt/plugin.h>

static void registerNothing(edgeopt::PluginRegistrar&) {}
static const edgeopt::PluginInfo info = {EDGEOPT_PLUGIN_API_VERSION, "other_name", "1.0", "misnamed", registerNothing};
static const edgeopt::PluginInfo* wrongNameInfo() { return &info; }
BOOST_DLL_ALIAS(wrongNameInfo, edgeopt_plugin_info)
