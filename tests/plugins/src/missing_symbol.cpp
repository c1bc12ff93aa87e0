// A plugin that needs a symbol no library provides (as when it was built
// against another version of a dependency): loading it must fail cleanly.
#include <edgeopt/plugin.h>

extern "C" void edgeopt_test_missing_function();

static void registerMissing(edgeopt::PluginRegistrar&) { edgeopt_test_missing_function(); }

EDGEOPT_PLUGIN("1.0", "has an undefined symbol", registerMissing)
