#pragma once
// Runs code in a child process whose address space may grow by a fixed amount
// only, so a reader that allocates what a malformed header claims (gigabytes)
// fails there instead of succeeding on a large machine or exhausting it.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <exception>
#include <fstream>
#include <functional>
#include <string>

namespace edgeopt::test {

struct CappedResult {
  bool completed = false;  // the child ran to the end (returned or threw std::exception)
  std::string error;       // what() of the exception it threw; empty when it returned
};

// VmSize of this process in bytes (its address space now).
inline uint64_t addressSpaceBytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  uint64_t kb = 0;
  while (status >> key) {
    if (key == "VmSize:") {
      status >> kb;
      break;
    }
    status.ignore(1 << 16, '\n');
  }
  return kb * 1024;
}

// Runs `body` in a forked child limited to its current address space plus
// `extra_bytes`. The parent gets whether it finished and its error message.
inline CappedResult runWithMemoryCap(uint64_t extra_bytes, const std::function<void()>& body) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    const uint64_t cap = addressSpaceBytes() + extra_bytes;
    rlimit limit{cap, cap};
    setrlimit(RLIMIT_AS, &limit);
    std::string message;
    int code = 0;
    try {
      body();
    } catch (const std::exception& e) {
      message = e.what();
      code = 1;
    }
    if (write(fds[1], message.data(), message.size()) < 0) code = 3;
    _exit(code);  // no atexit handlers, no LibTorch teardown in the child
  }
  close(fds[1]);
  std::string message;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) message.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  CappedResult r;
  r.completed = WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 1);
  r.error = message;
  return r;
}

}  // namespace edgeopt::test
