#pragma once
// Per-epoch progress: a live bar on a terminal (stderr), plain periodic log
// lines otherwise (CI logs, files).
#include <chrono>
#include <cstdint>
#include <edgeopt/train_task.h>

#include <string>

namespace edgeopt {

class Progress {
 public:
  Progress(std::string title, size_t total_batches);
  // After each batch: the running train statistics and images seen so far.
  void update(size_t batch, const MetricRow& running, int64_t images);
  void finish();

 private:
  std::string title_;
  size_t total_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  size_t last_logged_tenth_ = 0;
};

}  // namespace edgeopt
