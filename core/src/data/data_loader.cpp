// The DataLoader (data_loader.h): worker threads build whole batches (decode,
// transform, collate) in a bounded window ahead of the consumer, and hand
// them over in order through a reorder map, so batch k is the same whichever
// worker built it and whenever.
#include <edgeopt/data_loader.h>
#include <edgeopt/transforms.h>

#include <ATen/ATen.h>
#include <opencv2/core/utility.hpp>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>

namespace edgeopt {

namespace {

// The shuffle's generator stream: per-example streams use the dataset index,
// which never reaches this value.
constexpr uint64_t kOrderStream = ~uint64_t{0};

std::string shapeText(const cv::Mat& m) {
  return std::to_string(m.channels()) + "x" + std::to_string(m.rows) + "x" + std::to_string(m.cols);
}

class ThreadedLoader : public DataLoader {
 public:
  ThreadedLoader(std::shared_ptr<const Dataset> dataset, Split split, TransformPipeline pipeline,
                 LoaderOptions o, SourceLocation transforms_loc, std::string transforms_key)
      : dataset_(std::move(dataset)), split_(split), pipeline_(std::move(pipeline)), o_(o),
        transforms_loc_(std::move(transforms_loc)), transforms_key_(std::move(transforms_key)) {
    if (!dataset_) throw RuntimeFailure("makeDataLoader: no dataset");
    if (o_.batch_size < 1) throw RuntimeFailure("makeDataLoader: batch_size must be at least 1");
    if (o_.world_size < 1 || o_.rank < 0 || o_.rank >= o_.world_size)
      throw RuntimeFailure("makeDataLoader: rank " + std::to_string(o_.rank) + " is outside world size " +
                           std::to_string(o_.world_size));
    // Equal shards: every rank runs the same number of steps (a rank with one
    // batch more would wait forever in the gradient all-reduce), so the last
    // size % world_size examples of the epoch's order are left out.
    per_rank_ = dataset_->size(split_) / static_cast<size_t>(o_.world_size);
  }
  ~ThreadedLoader() override { stopWorkers(); }

  size_t examplesPerEpoch() const override { return per_rank_; }
  size_t batchesPerEpoch() const override {
    const size_t bs = static_cast<size_t>(o_.batch_size);
    return o_.drop_last ? per_rank_ / bs : (per_rank_ + bs - 1) / bs;
  }

  void startEpoch(int64_t epoch) override {
    stopWorkers();
    epoch_ = static_cast<uint64_t>(epoch);
    makeOrder();
    next_claim_ = next_deliver_ = 0;
    ready_.clear();
    skipped_ = 0;
    stop_ = false;
    started_ = true;
    if (o_.workers > 0) {
      // The worker threads are the parallelism: OpenCV's own pool inside each
      // would only compete with them and with LibTorch's on two cores. Debian's
      // OpenCV uses TBB, where this setting is process-wide (and not safe to
      // change from several threads at once), so it is set once, here.
      static std::once_flag serial_opencv;
      std::call_once(serial_opencv, [] { cv::setNumThreads(0); });
    }
    for (int w = 0; w < o_.workers; ++w) threads_.emplace_back([this] { workerLoop(); });
  }

  std::optional<Batch> next() override {
    if (!started_) throw RuntimeFailure("DataLoader::next() before startEpoch()");
    const size_t total = batchesPerEpoch();
    while (next_deliver_ < total) {
      Slot slot;
      if (o_.workers == 0) {
        slot = build(next_deliver_);
      } else {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_cv_.wait(lock, [&] { return ready_.count(next_deliver_) != 0; });
        slot = std::move(ready_[next_deliver_]);
        ready_.erase(next_deliver_);
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ++next_deliver_;  // opens the window for one more batch
      }
      claim_cv_.notify_all();
      skipped_ += slot.skipped;
      if (slot.error) std::rethrow_exception(slot.error);
      if (slot.batch) return std::move(slot.batch);  // else every example was skipped
    }
    return std::nullopt;
  }

  size_t skippedThisEpoch() const override { return skipped_; }

 private:
  struct Slot {
    std::optional<Batch> batch;
    size_t skipped = 0;
    std::exception_ptr error;
  };

  // This rank's share of the epoch's order (a permutation fixed by (seed,
  // epoch) when shuffling, else dataset order): every world_size-th example
  // from position rank, as torch's DistributedSampler. So with a per-rank
  // batch b, step k of all ranks together covers positions [k*b*W, (k+1)*b*W)
  // of the order: exactly what one process with batch b*W sees at step k.
  void makeOrder() {
    std::vector<size_t> all(dataset_->size(split_));
    std::iota(all.begin(), all.end(), size_t{0});
    if (o_.shuffle) {
      Rng rng(o_.seed, epoch_, kOrderStream);
      for (size_t i = all.size(); i > 1; --i)
        std::swap(all[i - 1], all[static_cast<size_t>(rng.randint(0, static_cast<int64_t>(i - 1)))]);
    }
    const size_t world = static_cast<size_t>(o_.world_size), rank = static_cast<size_t>(o_.rank);
    order_.resize(per_rank_);
    for (size_t i = 0; i < per_rank_; ++i) order_[i] = all[i * world + rank];
  }

  void workerLoop() {
    const size_t total = batchesPerEpoch();
    const size_t window = static_cast<size_t>(std::max({o_.prefetch_batches, o_.workers, 1}));
    for (;;) {
      size_t k;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        claim_cv_.wait(lock, [&] { return stop_ || next_claim_ >= total || next_claim_ < next_deliver_ + window; });
        if (stop_ || next_claim_ >= total) return;
        k = next_claim_++;
      }
      Slot slot = build(k);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ready_[k] = std::move(slot);
      }
      ready_cv_.notify_all();
    }
  }

  void stopWorkers() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    claim_cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  // Batch k: decode + transform its examples and collate them. Never throws:
  // errors travel to the consumer in the slot.
  Slot build(size_t k) const {
    Slot slot;
    try {
      const size_t bs = static_cast<size_t>(o_.batch_size);
      const size_t begin = k * bs, end = std::min(begin + bs, order_.size());
      std::vector<Sample> samples;
      std::vector<Example> meta;  // label, image_id, source (image moved out)
      for (size_t i = begin; i < end; ++i) {
        const size_t index = order_[i];
        Example ex;
        try {
          ex = dataset_->get(split_, index);
          if (ex.image.empty()) throw InputError(ex.source + ": decoded to an empty image");
        } catch (const InputError& e) {
          if (o_.skip_bad) {
            ++slot.skipped;
            continue;
          }
          throw InputError(std::string(e.what()) + " (data.on_bad_data: skip would skip it)");
        }
        Sample s = Sample::fromExample(std::move(ex));
        Rng rng(o_.seed, epoch_, index);
        pipeline_.applyDeferred(s, rng);  // flip/normalize happen in collate's write
        samples.push_back(std::move(s));
        meta.push_back(std::move(ex));
      }
      if (!samples.empty()) slot.batch = collate(samples, meta);
    } catch (...) {
      slot.error = std::current_exception();
    }
    return slot;
  }

  Batch collate(std::vector<Sample>& samples, std::vector<Example>& meta) const {
    const cv::Mat& first = samples[0].image;
    const int C = first.channels(), H = first.rows, W = first.cols;
    for (size_t i = 1; i < samples.size(); ++i) {
      const cv::Mat& m = samples[i].image;
      if (m.channels() != C || m.rows != H || m.cols != W)
        throw RecipeError(transforms_loc_, transforms_key_,
                          "the images of a batch must have one shape, but " + meta[0].source + " is " +
                              shapeText(first) + " (CxHxW) and " + meta[i].source + " is " + shapeText(m) +
                              (m.channels() != C ? "; add grayscale_to_rgb"
                                                 : "; end with a fixed-size transform (center_crop, "
                                                   "random_resized_crop, letterbox or resize: [h, w])"));
    }
    Batch b;
    const int64_t n = static_cast<int64_t>(samples.size());
    b.images = at::empty({n, C, H, W}, at::kFloat);
    b.labels = at::empty({n}, at::kLong);
    float* images = b.images.data_ptr<float>();
    int64_t* labels = b.labels.data_ptr<int64_t>();
    for (int64_t i = 0; i < n; ++i) {
      writeCHW(samples[i], images + i * C * H * W);
      labels[i] = meta[i].label;
      b.boxes.push_back(std::move(samples[i].boxes));
      b.image_ids.push_back(meta[i].image_id);
      b.sources.push_back(std::move(meta[i].source));
    }
    return b;
  }

  std::shared_ptr<const Dataset> dataset_;
  Split split_;
  TransformPipeline pipeline_;
  LoaderOptions o_;
  SourceLocation transforms_loc_;
  std::string transforms_key_;
  size_t per_rank_ = 0;

  uint64_t epoch_ = 0;
  std::vector<size_t> order_;
  bool started_ = false;
  size_t skipped_ = 0;  // in batches already delivered, so it doesn't depend on timing

  std::mutex mutex_;
  std::condition_variable claim_cv_, ready_cv_;
  size_t next_claim_ = 0, next_deliver_ = 0;
  std::map<size_t, Slot> ready_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace

std::unique_ptr<DataLoader> makeDataLoader(std::shared_ptr<const Dataset> dataset, Split split, const Options& data,
                                           LoaderOptions options) {
  const std::string name = split == Split::Train ? "train_transforms" : "val_transforms";
  TransformPipeline pipeline;
  if (data.has(name)) pipeline = parseTransforms(data.get<ConfigNode>(name), data.key(name));
  return std::make_unique<ThreadedLoader>(std::move(dataset), split, std::move(pipeline), options,
                                          data.location(name), data.key(name));
}

}  // namespace edgeopt
