// A library that exports edgeopt_plugin_info as a function returning the info,
// instead of the pointer to such a function that EDGEOPT_PLUGIN exports: the
// natural mistake of writing the entry point by hand.
#include <edgeopt/plugin.h>

#include <boost/config.hpp>

static void registerNothing(edgeopt::PluginRegistrar&) {}
static const edgeopt::PluginInfo info = {EDGEOPT_PLUGIN_API_VERSION, "function_entry", "1.0", "hand-written entry",
                                         registerNothing};
extern "C" BOOST_SYMBOL_EXPORT const edgeopt::PluginInfo* edgeopt_plugin_info() { return &info; }
