#pragma once
// Loads plugin libraries (Boost.DLL) and commits what they register to the
// registries. Every failure is a PluginError whose one-line message names the
// library and what to do. Loaded libraries are never unloaded: objects they
// created may live until the process ends.
#include <edgeopt/registry.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace edgeopt {

struct LoadedPlugin {
  std::string path;  // canonical
  std::string name;
  std::string version;
  std::string description;
  uint32_t api_version = 0;
  std::string sha256;  // of the library file, for the run manifest
  std::vector<std::pair<FactoryKind, std::string>> provides;
};

class PluginHost {
 public:
  explicit PluginHost(Registries& registries = edgeopt::registries()) : registries_(registries) {}

  // Loads one library (no-op when that file is already loaded).
  const LoadedPlugin& load(const std::string& path);
  // Loads every libedgeopt_*.so in `dir`, in name order. A missing dir is skipped.
  void loadDirectory(const std::string& dir);
  // The built-in plugin folder (unless EDGEOPT_NO_BUILTIN_PLUGINS=1), then
  // each folder of EDGEOPT_PLUGIN_PATH (':'-separated).
  void loadDefaults();

  const std::vector<LoadedPlugin>& plugins() const { return plugins_; }
  Registries& registriesInUse() const { return registries_; }

 private:
  Registries& registries_;
  std::vector<LoadedPlugin> plugins_;
};

// <folder of libedgeopt_core>/edgeopt/plugins (build and install trees alike).
std::string builtinPluginDir();

}  // namespace edgeopt
