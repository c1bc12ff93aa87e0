#pragma once
// Helpers for the importer tests: fixtures from make_importer_fixtures.py and
// model sources loaded from the built plugins, as edgeopt-run loads them.
#include <edgeopt/config.h>
#include <edgeopt/fileutil.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/model_source.h>
#include <edgeopt/plugin_host.h>

#include "test_support.h"

#include <ATen/ATen.h>
#include <torch/serialize.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

namespace edgeopt::test {

// Runs the fixture script once per script version (cached by its hash) with
// Debian's python3, the one with python3-torch/torchvision.
inline std::string importerFixtureDir() {
  namespace fs = std::filesystem;
  static const std::string dir = [] {
    std::string script = std::string(EDGEOPT_SOURCE_DIR) + "/tests/importers/make_importer_fixtures.py";
    fs::path out = fs::path(EDGEOPT_TEST_WORK_DIR) / "fixtures";
    std::string stamp = (out / "script.sha256").string();
    std::string hash = sha256File(script);
    // ctest may run test cases in parallel processes: one generates, the others wait.
    fs::create_directories(out.parent_path());
    int lock = ::open((out.string() + ".lock").c_str(), O_CREAT | O_RDWR, 0644);
    if (lock >= 0) ::flock(lock, LOCK_EX);
    struct Unlock {
      int fd;
      ~Unlock() {
        if (fd >= 0) ::close(fd);  // releases the lock
      }
    } unlock{lock};
    if (fs::exists(stamp) && readText(stamp) == hash) return out.string();
    fs::remove_all(out);
    fs::create_directories(out);
    std::string log = (out / "python.log").string();
    std::string cmd =
        std::string(EDGEOPT_SYSTEM_PYTHON) + " '" + script + "' '" + out.string() + "' > '" + log + "' 2>&1";
    if (std::system(cmd.c_str()) != 0)
      throw std::runtime_error("fixture script failed (" + cmd + "):\n" + readText(log));
    writeText(stamp, hash);
    return out.string();
  }();
  return dir;
}

inline c10::Dict<c10::IValue, c10::IValue> loadPickle(const std::string& path) {
  std::string bytes = readFile(path);
  return torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toGenericDict();
}

// The built-in plugins, loaded once into their own registries.
inline Registries& importerRegistries() {
  static Registries reg;
  static bool loaded = [] {
    PluginHost host(reg);
    for (const char* name : {"torchscript", "onnx_import"}) {
      std::string file = builtinPluginDir() + "/libedgeopt_" + name + ".so";
      if (std::filesystem::exists(file)) host.load(file);
    }
    return true;
  }();
  (void)loaded;
  return reg;
}

// Validates `yaml` (the recipe's model: map without `source`) against the
// source's schema, then loads the model.
inline std::shared_ptr<GraphModule> loadModel(const std::string& source, const std::string& yaml) {
  const auto* entry = importerRegistries().of<ModelSource>().find(source);
  if (!entry) throw std::runtime_error("no model source '" + source + "'");
  Options o = entry->factory.options.validate(ConfigNode::parse(yaml, "model.yaml"), "model", {}, "/");
  return entry->factory.create(o)->load();
}

inline double maxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  return (a.detach().to(at::kDouble) - b.detach().to(at::kDouble)).abs().max().item<double>();
}

}  // namespace edgeopt::test
