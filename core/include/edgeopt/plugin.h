#pragma once
// The EdgeOpt plugin ABI. A plugin is a shared library exporting one symbol,
// `edgeopt_plugin_info` (via BOOST_DLL_ALIAS), that returns a PluginInfo. The
// host checks the API version, then calls `register_factories` with a
// PluginRegistrar; whatever the plugin adds is committed to the registries only
// if registration finishes without throwing and without a name clash.
//
// Writing a plugin (see docs/plugins.md):
//   static void registerAll(edgeopt::PluginRegistrar& r) {
//     r.add<edgeopt::Stage>("my_stage", {"does X", schema, [](const Options& o) {...}});
//   }
//   EDGEOPT_PLUGIN("1.0.0", "what this plugin provides", registerAll)
#include <edgeopt/registry.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

// Bump on any change to PluginInfo's layout or to an interface a plugin
// implements (Stage, ModelSource, Exporter, Dataset, ... and their factories).
#define EDGEOPT_PLUGIN_API_VERSION 1

namespace edgeopt {

class PluginRegistrar {
 public:
  struct Pending {
    FactoryKind kind;
    std::string name;
    std::function<void(Registries&, const std::string& provider)> commit;
  };

  explicit PluginRegistrar(std::string plugin_name) : plugin_(std::move(plugin_name)) {}

  template <class T>
  void add(const std::string& name, Factory<T> factory) {
    pending_.push_back({KindOf<T>::value, name,
                        [name, f = std::move(factory)](Registries& r, const std::string& provider) {
                          r.of<T>().add(name, f, provider);
                        }});
  }

  const std::string& pluginName() const { return plugin_; }
  const std::vector<Pending>& pending() const { return pending_; }

 private:
  std::string plugin_;
  std::vector<Pending> pending_;
};

extern "C" {
struct PluginInfo {
  uint32_t api_version;  // EDGEOPT_PLUGIN_API_VERSION the plugin was built with
  const char* name;      // must equal the library basename without "libedgeopt_"
  const char* version;
  const char* description;
  void (*register_factories)(PluginRegistrar&);
};
}

}  // namespace edgeopt

#define EDGEOPT_PLUGIN_ENTRY_POINT "edgeopt_plugin_info"

// Defines the plugin's entry point. EDGEOPT_PLUGIN_NAME comes from the build
// (edgeopt_add_plugin in CMake) so the name always matches the file name.
#ifdef EDGEOPT_PLUGIN_NAME
#include <boost/dll/alias.hpp>
#define EDGEOPT_PLUGIN(VERSION, DESCRIPTION, REGISTER_FN)                              \
  namespace {                                                                         \
  const ::edgeopt::PluginInfo edgeopt_plugin_info_value = {                           \
      EDGEOPT_PLUGIN_API_VERSION, EDGEOPT_PLUGIN_NAME, VERSION, DESCRIPTION, REGISTER_FN}; \
  }                                                                                   \
  /* internal linkage: no plugin's entry can interpose another's */                \
  static const ::edgeopt::PluginInfo* edgeopt_plugin_info_impl() {                    \
    return &edgeopt_plugin_info_value;                                                \
  }                                                                                   \
  BOOST_DLL_ALIAS(edgeopt_plugin_info_impl, edgeopt_plugin_info)
#endif
