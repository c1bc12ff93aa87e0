#pragma once
// The error boundary of EdgeOpt's command-line tools: a tool's body runs
// inside reportErrors(), so every failure is one "error: ..." line on stderr
// and the exit code its Error carries (1 for anything else).
#include <edgeopt/error.h>

#include <exception>
#include <iostream>

namespace edgeopt {

template <class Body>
int reportErrors(Body&& body) {
  try {
    return body();
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return static_cast<int>(ExitCode::Runtime);
  }
}

}  // namespace edgeopt
