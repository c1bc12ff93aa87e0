#include "progress.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <unistd.h>

namespace edgeopt {

namespace {
std::string clock(double seconds) {
  const int s = static_cast<int>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%d:%02d", s / 60, s % 60);
  return buf;
}

// "loss 0.4321 top1 87.50" (names as the task's train statistics).
std::string statsText(const MetricRow& running) {
  std::string text;
  char buf[64];
  for (const auto& [name, value] : running) {
    std::snprintf(buf, sizeof buf, "%s%s %.4g", text.empty() ? "" : " ", name.c_str(), value);
    text += buf;
  }
  return text;
}
}  // namespace

Progress::Progress(std::string title, size_t total_batches)
    : title_(std::move(title)), total_(total_batches), tty_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

void Progress::update(size_t batch, const MetricRow& running, int64_t images) {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(images) / elapsed : 0;
  const double eta = batch ? elapsed * static_cast<double>(total_ - batch) / static_cast<double>(batch) : 0;
  if (tty_) {
    if (std::chrono::duration<double>(now - last_draw_).count() < 0.2 && batch < total_) return;
    last_draw_ = now;
    const int width = 24, filled = total_ ? static_cast<int>(width * batch / total_) : width;
    std::fprintf(stderr, "\r%s [%s%s] %zu/%zu %s %.0f img/s ETA %s ", title_.c_str(),
                 std::string(static_cast<size_t>(filled), '#').c_str(),
                 std::string(static_cast<size_t>(width - filled), '.').c_str(), batch, total_,
                 statsText(running).c_str(), rate, clock(eta).c_str());
    std::fflush(stderr);
    return;
  }
  const size_t tenth = total_ ? 10 * batch / total_ : 10;
  if (tenth > last_logged_tenth_ || batch == total_) {
    last_logged_tenth_ = tenth;
    spdlog::info("{} {}/{} {} {:.0f} img/s ETA {}", title_, batch, total_, statsText(running), rate, clock(eta));
  }
}

void Progress::finish() {
  if (tty_) std::fprintf(stderr, "\n");
}

}  // namespace edgeopt
