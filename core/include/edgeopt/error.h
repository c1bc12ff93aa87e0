#pragma once
// User-facing errors. Each carries the process exit code it maps to, so the CLI
// turns any of them into one line on stderr and a documented exit status.
#include <stdexcept>
#include <string>

namespace edgeopt {

// Exit codes of edgeopt-run (documented in README.md).
enum class ExitCode : int {
  Ok = 0,
  Runtime = 1,  // a stage failed while running
  Usage = 2,    // bad command-line flags
  Recipe = 3,   // the recipe is invalid (file:line:col: key: message)
  Plugin = 4,   // a plugin could not be loaded or registered
  Input = 5,    // a model, checkpoint or data file is unreadable or malformed
  Different = 6,  // --reproduce: the results differ from the recorded run's
  Interrupted = 130,  // stopped by Ctrl-C at a safe point (128 + SIGINT, as a shell reports it)
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

struct UsageError : Error {
  explicit UsageError(const std::string& m) : Error(ExitCode::Usage, m) {}
};
struct PluginError : Error {
  explicit PluginError(const std::string& m) : Error(ExitCode::Plugin, m) {}
};
struct InputError : Error {
  explicit InputError(const std::string& m) : Error(ExitCode::Input, m) {}
};
struct RuntimeFailure : Error {
  explicit RuntimeFailure(const std::string& m) : Error(ExitCode::Runtime, m) {}
};
struct Interrupted : Error {
  explicit Interrupted(const std::string& m) : Error(ExitCode::Interrupted, m) {}
};

// The message of any exception as a user should read it: a c10::Error (what
// LibTorch throws) without the C++ backtrace its what() appends.
std::string errorText(const std::exception& e);
// The text up to the first newline.
std::string firstLine(const std::string& text);
// `text` safe for one line of a terminal: control bytes (newlines, escape
// sequences, ... often copied from a malformed input file) written as \n, \t,
// \r or \xNN. "a\x1b[2Jb" -> "a\\x1b[2Jb".
std::string escapeControlBytes(const std::string& text);

}  // namespace edgeopt
