#pragma once
// The error boundary of EdgeOpt's command-line tools: a tool's body runs
// inside reportErrors() (edgeopt-run calls reportError() itself), so every
// failure is one "error: ..." line on stderr — LibTorch's errors without their
// C++ backtrace, control bytes escaped — and the exit code its Error carries
// (1 for anything else).
#include <edgeopt/error.h>

#include <spdlog/spdlog.h>

#include <exception>
#include <iostream>
#include <string>

namespace edgeopt {

// Prints `e` as one line ("error: " `prefix` message) after what the log
// holds so far, and returns its exit code.
inline int reportError(const std::exception& e, const std::string& prefix = "") {
  if (auto logger = spdlog::default_logger()) logger->flush();
  // One write: ranks of a distributed run share the terminal.
  std::cerr << ("error: " + prefix + escapeControlBytes(errorText(e)) + "\n") << std::flush;
  const auto* error = dynamic_cast<const Error*>(&e);
  return static_cast<int>(error ? error->code() : ExitCode::Runtime);
}

template <class Body>
int reportErrors(Body&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return reportError(e);
  }
}

}  // namespace edgeopt
