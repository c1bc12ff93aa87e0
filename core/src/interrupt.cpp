#include <edgeopt/interrupt.h>

#include <atomic>
#include <csignal>

#include <unistd.h>

namespace edgeopt {
namespace {

std::atomic<bool> requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

void onInterrupt(int) {
  requested.store(true);
  // Only async-signal-safe calls here: write(2), no allocation.
  static const char message[] = "\ninterrupt: stopping at the next safe point (Ctrl-C again to stop now)\n";
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, message, sizeof message - 1);
}

}  // namespace

void installInterruptHandler() {
  struct sigaction action {};
  action.sa_handler = onInterrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND | SA_RESTART;  // the second Ctrl-C gets the default: terminate
  ::sigaction(SIGINT, &action, nullptr);
}

bool interruptRequested() { return requested.load(); }

}  // namespace edgeopt
