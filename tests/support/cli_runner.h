#pragma once
// Runs the real edgeopt-run binary, as a user would, and captures its exit
// code, stdout and stderr.
#include "test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace edgeopt::test {

struct CliResult {
  int code = -1;       // exit status; 128 + signal when killed
  std::string out, err;
  std::string lastErrLine() const {
    std::string e = err;
    while (!e.empty() && e.back() == '\n') e.pop_back();
    auto nl = e.rfind('\n');
    return nl == std::string::npos ? e : e.substr(nl + 1);
  }
};

inline std::string testPluginDir(const std::string& folder) {
  return std::string(EDGEOPT_BINARY_DIR) + "/tests/plugins/lib/" + folder;
}

// A folder with copies of the named built-in plugins (per process: ctest runs
// test cases in parallel processes).
inline std::string builtinSubset(const std::string& tag, const std::vector<std::string>& names) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(EDGEOPT_TEST_WORK_DIR) / ("plugins-" + tag + "-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (const auto& name : names) {
    const std::string file = "libedgeopt_" + name + ".so";
    fs::copy_file(fs::path(EDGEOPT_BINARY_DIR) / "lib/edgeopt/plugins" / file, dir / file,
                  fs::copy_options::overwrite_existing);
  }
  return dir.string();
}

// A fixed plugin set for the CLI tests, so messages that list what is
// available don't change whenever a built-in plugin is added: the test plugin
// plus copies of the built-in export, inspect and zoo plugins.
inline std::string cliPluginPath() {
  static const std::string path = testPluginDir("good") + ":" + builtinSubset("cli", {"export", "inspect", "zoo"});
  return path;
}

// Runs build/bin/`program` (edgeopt-run, edgeopt-inspect). `args` is passed
// through the shell; `cwd` is where runs/ lands. Built-in plugins are not
// loaded: `plugin_path` is the whole plugin set.
inline CliResult runProgram(const std::string& program, const std::string& args, const std::string& cwd,
                            const std::string& plugin_path = cliPluginPath(), const std::string& env = "") {
  const std::string exe = std::string(EDGEOPT_BINARY_DIR) + "/bin/" + program;
  const std::string out = cwd + "/.cli-stdout", err = cwd + "/.cli-stderr";
  const std::string cmd = "cd '" + cwd + "' && " + env + " EDGEOPT_NO_BUILTIN_PLUGINS=1 EDGEOPT_PLUGIN_PATH='" + plugin_path + "' '" + exe + "' " + args +
                          " > '" + out + "' 2> '" + err + "'";
  int status = std::system(cmd.c_str());
  CliResult r;
  if (WIFEXITED(status)) r.code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) r.code = 128 + WTERMSIG(status);
  r.out = readText(out);
  r.err = readText(err);
  return r;
}

inline CliResult runCli(const std::string& args, const std::string& cwd,
                        const std::string& plugin_path = cliPluginPath(), const std::string& env = "") {
  return runProgram("edgeopt-run", args, cwd, plugin_path, env);
}

}  // namespace edgeopt::test
