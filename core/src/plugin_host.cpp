#include <edgeopt/fileutil.h>
#include <edgeopt/plugin.h>
#include <edgeopt/plugin_host.h>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>

#include <dlfcn.h>
#include <elf.h>
#include <link.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace fs = std::filesystem;

namespace edgeopt {
namespace {

constexpr const char* kPrefix = "libedgeopt_";
constexpr const char* kSuffix = ".so";

// Libraries stay loaded until the process ends (objects they made may outlive
// any owner we could name), so this list is never destroyed.
std::vector<boost::dll::shared_library>& loadedLibraries() {
  static auto* libs = new std::vector<boost::dll::shared_library>();
  return *libs;
}

// Boost.DLL reports a failed load as a generic error code; dlerror() has the
// reason a user can act on (missing dependency, wrong architecture, ...).
std::string dlopenReason(const std::string& path) {
  void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (h) {
    ::dlclose(h);
    return "unknown reason";
  }
  const char* e = ::dlerror();
  std::string reason = e ? e : "unknown reason";
  // dlerror repeats the path first; keep only the reason.
  if (reason.rfind(path + ": ", 0) == 0) reason = reason.substr(path.size() + 2);
  return reason;
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw PluginError("plugin " + path + ": " + what);
}

// Where an address lies among the loaded objects' PT_LOAD segments.
struct SegmentOf {
  uintptr_t address = 0;
  bool found = false;
  ElfW(Addr) object = 0;  // load base of the object holding it
  bool executable = false;
};

int findSegment(dl_phdr_info* info, size_t, void* data) {
  auto* s = static_cast<SegmentOf*>(data);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type != PT_LOAD || s->address < start || s->address >= start + ph.p_memsz) continue;
    s->found = true;
    s->object = info->dlpi_addr;
    s->executable = (ph.p_flags & PF_X) != 0;
    return 1;
  }
  return 0;
}

SegmentOf segmentOf(const void* address) {
  SegmentOf s;
  s.address = reinterpret_cast<uintptr_t>(address);
  ::dl_iterate_phdr(findSegment, &s);
  return s;
}

// EDGEOPT_PLUGIN exports the entry point as a data symbol holding the address
// of the info function. Calling through anything else — a function of that
// name, a null pointer, a PluginInfo itself — would crash the host, so the
// symbol is checked first; returns what is wrong, or "" when it is callable.
std::string entryPointProblem(const void* symbol) {
  const std::string name = std::string("'") + EDGEOPT_PLUGIN_ENTRY_POINT + "'";
  const std::string fix = " (define the entry point with EDGEOPT_PLUGIN)";
  Dl_info where{};
  ElfW(Sym)* sym = nullptr;
  if (::dladdr1(symbol, &where, reinterpret_cast<void**>(&sym), RTLD_DL_SYMENT) && sym) {
    const auto type = ELF64_ST_TYPE(sym->st_info);  // the same low 4 bits as ELF32_ST_TYPE
    if (type == STT_FUNC || type == STT_GNU_IFUNC)
      return name + " is a function, not the pointer to one that the host expects" + fix;
    // At least a pointer's size, not exactly: ASan pads globals with a
    // redzone counted in st_size (32 bytes for a pointer). Anything larger that
    // is not a pointer (a PluginInfo itself) fails the target check below.
    if (type != STT_OBJECT || sym->st_size < sizeof(void*))
      return name + " is not a pointer to the plugin's info function" + fix;
  }
  const void* target = *static_cast<const void* const*>(symbol);
  if (!target) return name + " is a null pointer" + fix;
  const SegmentOf entry = segmentOf(symbol), code = segmentOf(target);
  if (!code.found || !code.executable || code.object != entry.object)
    return name + " does not point to a function of this library" + fix;
  return "";
}

bool isPluginFile(const fs::path& p) {
  const std::string f = p.filename().string();
  return f.rfind(kPrefix, 0) == 0 && f.size() > std::string(kPrefix).size() + 3 &&
         f.compare(f.size() - 3, 3, kSuffix) == 0;
}

}  // namespace

const LoadedPlugin& PluginHost::load(const std::string& path_in) {
  std::error_code ec;
  if (!fs::exists(path_in, ec)) fail(path_in, "no such file (check the path, or EDGEOPT_PLUGIN_PATH)");
  if (fs::is_directory(path_in, ec)) fail(path_in, "is a folder; name the plugin's .so file");
  const std::string path = fs::canonical(path_in).string();
  for (const auto& p : plugins_)
    if (p.path == path) return p;

  boost::dll::shared_library lib;
  boost::dll::fs::error_code load_ec;
  lib.load(path, load_ec, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  if (load_ec || !lib.is_loaded())
    fail(path, "cannot be loaded as a shared library: " + dlopenReason(path));
  if (!lib.has(EDGEOPT_PLUGIN_ENTRY_POINT))
    fail(path, std::string("has no '") + EDGEOPT_PLUGIN_ENTRY_POINT +
                   "' entry point; is it an EdgeOpt plugin? (define one with EDGEOPT_PLUGIN)");
  const std::string entry_problem = entryPointProblem(&lib.get<const void*>(EDGEOPT_PLUGIN_ENTRY_POINT));
  if (!entry_problem.empty()) fail(path, entry_problem);
  const PluginInfo* info = lib.get_alias<const PluginInfo*()>(EDGEOPT_PLUGIN_ENTRY_POINT)();
  if (!info) fail(path, "its entry point returned no plugin info");
  if (info->api_version != EDGEOPT_PLUGIN_API_VERSION)
    fail(path, "was built for plugin API version " + std::to_string(info->api_version) +
                   ", this EdgeOpt supports version " + std::to_string(EDGEOPT_PLUGIN_API_VERSION) +
                   "; rebuild it against this EdgeOpt SDK");
  const std::string name = info->name ? info->name : "";
  const std::string file = fs::path(path).filename().string();
  if (file != kPrefix + name + kSuffix)
    fail(path, "reports the name '" + name + "' but a plugin named so must be the file " + kPrefix + name +
                   kSuffix + " (build it with edgeopt_add_plugin)");
  for (const auto& p : plugins_)
    if (p.name == name) fail(path, "plugin '" + name + "' is already loaded from " + p.path);
  if (!info->register_factories) fail(path, "its plugin info has no register function");

  PluginRegistrar registrar(name);
  try {
    info->register_factories(registrar);
    registries_.commit(registrar);
  } catch (const PluginError& e) {
    fail(path, e.what());
  } catch (const std::exception& e) {
    fail(path, std::string("registration failed: ") + e.what());
  } catch (...) {
    fail(path, "registration failed with an unknown exception");
  }

  LoadedPlugin loaded;
  loaded.path = path;
  loaded.name = name;
  loaded.version = info->version ? info->version : "";
  loaded.description = info->description ? info->description : "";
  loaded.api_version = info->api_version;
  loaded.sha256 = sha256File(path);
  for (const auto& p : registrar.pending()) loaded.provides.emplace_back(p.kind, p.name);
  loadedLibraries().push_back(std::move(lib));
  plugins_.push_back(std::move(loaded));
  return plugins_.back();
}

void PluginHost::loadDirectory(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (isPluginFile(entry.path())) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) load(f.string());
}

void PluginHost::loadDefaults() {
  const char* no_builtin = std::getenv("EDGEOPT_NO_BUILTIN_PLUGINS");
  if (!no_builtin || std::string(no_builtin) != "1") loadDirectory(builtinPluginDir());
  if (const char* env = std::getenv("EDGEOPT_PLUGIN_PATH")) {
    std::stringstream s(env);
    std::string dir;
    while (std::getline(s, dir, ':'))
      if (!dir.empty()) loadDirectory(dir);
  }
}

std::string builtinPluginDir() {
  // Next to libedgeopt_core itself, so the host program, tests and tools built
  // anywhere all find the same built-in plugins.
  fs::path core_lib = boost::dll::this_line_location().string();
  return (core_lib.parent_path() / "edgeopt" / "plugins").string();
}

}  // namespace edgeopt
