#pragma once
// Shared pieces of the libFuzzer harnesses (see fuzz/README.md).
//
// A harness passes when the code under test returns or throws edgeopt::Error
// (the documented one-line error with its exit code). A crash, a sanitizer
// report, a leak, a timeout or an allocation past -malloc_limit_mb is a
// finding. With EDGEOPT_FUZZ_STRICT=1 an exception that is not an
// edgeopt::Error (it would print one line but exit 1, "runtime failure",
// instead of the code of its cause) aborts too.
#include <edgeopt/error.h>
#include <edgeopt/plugin_host.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>

namespace edgeopt::fuzz {

// Quiet logging (the log would dominate the time per input).
inline void quietLogs() { spdlog::set_level(spdlog::level::off); }

// Loads the built-in plugin libedgeopt_<name>.so into the default registries.
inline void loadBuiltinPlugin(const std::string& name) {
  static PluginHost host;
  host.load(builtinPluginDir() + "/libedgeopt_" + name + ".so");
}

// The input as a file named for this process (readers take paths); the
// extension picks the model source.
inline std::string writeInput(const uint8_t* data, size_t size, const std::string& suffix) {
  static const std::string dir = [] {
    const char* t = std::getenv("TMPDIR");
    return std::string(t && *t ? t : "/tmp");
  }();
  const std::string path = dir + "/edgeopt-fuzz-" + std::to_string(getpid()) + suffix;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path;
}

// Runs `body`; documented errors are expected outcomes for malformed input.
template <class Body>
void expectHandled(Body&& body) {
  static const bool strict = [] {
    const char* s = std::getenv("EDGEOPT_FUZZ_STRICT");
    return s && std::string(s) == "1";
  }();
  try {
    body();
  } catch (const Error&) {
  } catch (const std::exception& e) {
    if (strict) {
      std::fprintf(stderr, "fuzz: not an edgeopt::Error: %s\n", errorText(e).c_str());
      std::abort();
    }
  }
}

}  // namespace edgeopt::fuzz
