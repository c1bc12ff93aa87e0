// runLocalRanks (distributed.h): `edgeopt-run --nproc N`, a local torchrun.
#include <edgeopt/distributed.h>
#include <edgeopt/error.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <optional>
#include <thread>

namespace edgeopt::dist {
namespace {

std::vector<pid_t> g_children;  // for the signal handler

void forwardSignal(int sig) {
  for (pid_t pid : g_children)
    if (pid > 0) ::kill(pid, sig);
}

// A terminal's Ctrl-C (sent by the kernel, SI_KERNEL) already reaches every
// process of the foreground group, the ranks included; forwarding it would give
// each rank a second SIGINT, which stops it at once instead of at its next safe
// point (interrupt.h). A SIGINT sent to the launcher alone is forwarded.
void forwardInterrupt(int sig, siginfo_t* info, void*) {
  if (info && info->si_code == SI_KERNEL) return;
  forwardSignal(sig);
}

std::string describe(int status) {
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
                                  strsignal(WTERMSIG(status)) + ")";
  return "exited with code " + std::to_string(WEXITSTATUS(status));
}

int exitCodeOf(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

// Copies a rank's output to our stderr a whole line at a time, so that lines
// of different ranks never mix mid-line.
void relayLines(int fd) {
  std::string pending;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buf, static_cast<size_t>(n));
    const size_t end = pending.rfind('\n');
    if (end == std::string::npos) continue;
    const std::string lines = pending.substr(0, end + 1);
    (void)!::write(STDERR_FILENO, lines.data(), lines.size());
    pending.erase(0, end + 1);
  }
  if (!pending.empty()) (void)!::write(STDERR_FILENO, pending.data(), pending.size());
  ::close(fd);
}

// This process's environment with the launch variables of rank `r`.
std::vector<std::string> rankEnvironment(int r, int nproc, const std::string& port) {
  const std::vector<std::pair<std::string, std::string>> launch = {
      {"RANK", std::to_string(r)},           {"LOCAL_RANK", std::to_string(r)},
      {"WORLD_SIZE", std::to_string(nproc)}, {"LOCAL_WORLD_SIZE", std::to_string(nproc)},
      {"MASTER_ADDR", "127.0.0.1"},          {"MASTER_PORT", port}};
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    bool replaced = false;
    for (const auto& [name, value] : launch) replaced = replaced || entry.rfind(name + "=", 0) == 0;
    if (!replaced) env.push_back(entry);
  }
  for (const auto& [name, value] : launch) env.push_back(name + "=" + value);
  return env;
}

}  // namespace

// A TCP port free on 127.0.0.1 now (the kernel picks it). Rank 0 binds it a
// moment later; another program taking it in between makes the rendezvous
// fail with a clear error, not hang.
int freeLocalPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    throw RuntimeFailure(std::string("cannot open a socket for a free local port: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!ok) throw RuntimeFailure(std::string("cannot find a free local port: ") + std::strerror(errno));
  return ntohs(addr.sin_port);
}

int runLocalRanks(int nproc, const std::vector<std::string>& argv) {
  const std::string port = std::to_string(freeLocalPort());
  std::vector<pid_t>& children = g_children;
  children.assign(static_cast<size_t>(nproc), -1);
  std::cout.flush();
  std::cerr.flush();
  std::vector<std::thread> relays;
  for (int r = 0; r < nproc; ++r) {
    // Ranks other than 0 write through a pipe: their log lines (prefixed
    // "rank R") reach the terminal whole, and, not seeing a terminal, they
    // print plain progress lines instead of a progress bar over rank 0's.
    int out[2] = {-1, -1};
    if (r > 0 && ::pipe2(out, O_CLOEXEC) != 0) {
      forwardSignal(SIGKILL);
      throw RuntimeFailure(std::string("--nproc: cannot make a pipe: ") + std::strerror(errno));
    }
    // Everything the child needs is built before fork(): the relay threads
    // may hold the allocator's lock at that moment, so the child only calls
    // async-signal-safe functions until execve.
    std::vector<std::string> env = rankEnvironment(r, nproc, port);
    std::vector<char*> envp, args;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const std::string exec_failed = "error: --nproc: cannot start rank " + std::to_string(r) + "\n";
    const pid_t pid = ::fork();
    if (pid < 0) {
      forwardSignal(SIGKILL);
      throw RuntimeFailure(std::string("--nproc: cannot start rank ") + std::to_string(r) + ": " +
                           std::strerror(errno));
    }
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a launcher killed outright takes its ranks with it
      if (r > 0) {
        ::dup2(out[1], STDOUT_FILENO);
        ::dup2(out[1], STDERR_FILENO);
      }
      ::execve("/proc/self/exe", args.data(), envp.data());
      (void)!::write(STDERR_FILENO, exec_failed.data(), exec_failed.size());
      ::_exit(static_cast<int>(ExitCode::Runtime));
    }
    children[static_cast<size_t>(r)] = pid;
    if (r > 0) {
      ::close(out[1]);
      relays.emplace_back(relayLines, out[0]);
    }
  }
  struct sigaction interrupt {};
  interrupt.sa_sigaction = forwardInterrupt;
  sigemptyset(&interrupt.sa_mask);
  interrupt.sa_flags = SA_SIGINFO | SA_RESTART;
  ::sigaction(SIGINT, &interrupt, nullptr);
  ::signal(SIGTERM, forwardSignal);

  // The run's status is its root cause's. The first rank to fail is usually
  // it; but rank 0 hosts the rendezvous, and when it stops on a bad recipe,
  // flag or file (codes 2-5), or on Ctrl-C (130), the others fail at once
  // with a generic runtime error (1) that may be reaped first. So a first
  // failure with code 1 gives the others a moment to exit on their own, and
  // rank 0's own code 2-5 or 130 outranks it.
  using Clock = std::chrono::steady_clock;
  int running = nproc, root_rank = -1, root_code = 0;
  std::string root_text;
  std::optional<Clock::time_point> term_at, kill_at;  // set once a rank failed
  bool terminated = false;
  while (running > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, term_at ? WNOHANG : 0);
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0) break;
    if (pid == 0) {  // stopping the others: TERM after the grace period, KILL 5 s later
      if (!terminated && Clock::now() >= *term_at) {
        forwardSignal(SIGTERM);
        terminated = true;
      }
      if (Clock::now() >= *kill_at) forwardSignal(SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    int r = 0;
    while (r < nproc && children[static_cast<size_t>(r)] != pid) ++r;
    if (r == nproc) continue;
    children[static_cast<size_t>(r)] = -1;
    --running;
    const int code = exitCodeOf(status);
    if (code == 0 || terminated) continue;  // finished, or stopped by us
    const bool rank0_stopped = code == static_cast<int>(ExitCode::Interrupted) || (code >= 2 && code <= 5);
    const bool rank0_cause = r == 0 && WIFEXITED(status) && rank0_stopped && root_code == 1;
    if (root_rank < 0 || rank0_cause) {
      root_rank = r;
      root_code = code;
      root_text = describe(status);
    }
    if (!term_at) {
      term_at = Clock::now() + std::chrono::seconds(code == 1 ? 2 : 0);
      kill_at = *term_at + std::chrono::seconds(5);
    }
  }
  for (auto& t : relays) t.join();  // each ends when its rank has exited
  // Said last, after every rank's own last words.
  if (root_rank >= 0)
    std::cerr << "error: rank " << root_rank << " " << root_text << "; stopped the others" << std::endl;
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  return root_code;
}

}  // namespace edgeopt::dist
