#pragma once
// Runs the real edgeopt-run binary, as a user would, and captures its exit
// code, stdout and stderr.
#include "test_support.h"

#include <sys/wait.h>

#include <cstdlib>
#include <string>

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

// `args` is passed through the shell; `cwd` is where runs/ lands.
inline CliResult runCli(const std::string& args, const std::string& cwd,
                        const std::string& plugin_path = testPluginDir("good")) {
  const std::string exe = std::string(EDGEOPT_BINARY_DIR) + "/bin/edgeopt-run";
  const std::string out = cwd + "/.cli-stdout", err = cwd + "/.cli-stderr";
  const std::string cmd = "cd '" + cwd + "' && EDGEOPT_PLUGIN_PATH='" + plugin_path + "' '" + exe + "' " + args +
                          " > '" + out + "' 2> '" + err + "'";
  int status = std::system(cmd.c_str());
  CliResult r;
  if (WIFEXITED(status)) r.code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) r.code = 128 + WTERMSIG(status);
  r.out = readText(out);
  r.err = readText(err);
  return r;
}

}  // namespace edgeopt::test
