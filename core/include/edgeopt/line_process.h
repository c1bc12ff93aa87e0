#pragma once
// A child process driven one line at a time: a command line written to its
// stdin, one answer line read from its stdout. bench_peer drives PyTorch and
// ONNX Runtime this way, and edgeopt-run --onnxruntime drives Node.js
// (onnxruntime_eval.cpp). SIGPIPE is ignored while it lives, so a child that
// died shows as an empty answer instead of killing the caller.
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include <sys/types.h>

namespace edgeopt {

class LineProcess {
 public:
  // Starts argv (argv[0] found on PATH unless it has a '/'), with its stderr
  // in `stderr_log` when given (else inherited), and reads its first line.
  // Throws RuntimeFailure when pipes or fork fail.
  explicit LineProcess(const std::vector<std::string>& argv, const std::string& stderr_log = "");
  ~LineProcess();  // close()
  LineProcess(const LineProcess&) = delete;
  LineProcess& operator=(const LineProcess&) = delete;

  // What the child printed first (its "ready" line); "" when it exited.
  const std::string& firstLine() const { return first_line_; }
  // Sends `command`, returns the answer line; "" when the child has gone.
  std::string exchange(const std::string& command);
  // Sends "quit", closes the pipes, waits for the child (idempotent).
  void close();

 private:
  std::string readLine();
  pid_t pid_ = -1;
  FILE* to_ = nullptr;
  FILE* from_ = nullptr;
  void (*previous_sigpipe_)(int) = SIG_DFL;
  std::string first_line_;
};

}  // namespace edgeopt
