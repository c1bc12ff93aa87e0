// Data loader throughput: JPEG decode + random_resized_crop(224) + flip +
// normalize into float batches of 32, with 1 and 2 worker threads, against
// the same pipeline in torchvision's DataLoader (PIL, worker processes) run
// in the same invocation when Debian's python3-torchvision is installed.
// The JPEGs (ImageNet-like: 500x375, ~q90) are generated here, into an
// ImageFolder tree both sides read. Ratio = EdgeOpt images/s / torchvision's.
//   bench_loader WORK_DIR [images=256] [epochs=3]
// Note the resize filters differ: OpenCV's bilinear vs PIL's antialiased one.
#include <edgeopt/runtime.h>
#include <edgeopt/data_loader.h>
#include <edgeopt/image_io.h>
#include <edgeopt/plugin_host.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// Smooth shapes plus a little noise: compresses like a photo (~60-120 KB),
// where pure noise would be several times larger and slower to decode.
void makeImages(const fs::path& root, int count) {
  cv::RNG rng(1);
  for (int i = 0; i < count; ++i) {
    const fs::path file = root / "train" / ("c" + std::to_string(i % 4)) / (std::to_string(i) + ".jpg");
    if (fs::exists(file)) continue;
    fs::create_directories(file.parent_path());
    cv::Mat small(24, 32, CV_8UC3), img, noise(375, 500, CV_8UC3);
    rng.fill(small, cv::RNG::UNIFORM, 0, 256);
    cv::resize(small, img, cv::Size(500, 375), 0, 0, cv::INTER_CUBIC);
    rng.fill(noise, cv::RNG::NORMAL, 0, 12);
    cv::add(img, noise, img);
    cv::imwrite(file.string(), img, {cv::IMWRITE_JPEG_QUALITY, 90});
  }
}

struct Rate {
  double images_per_s = -1;
  double cpu_ms_per_image = -1;  // all threads, warm-up epoch included
};

double cpuSeconds() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_stime.tv_sec + 1e-6 * (r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

Rate edgeoptRate(std::shared_ptr<const edgeopt::Dataset> ds, int workers, int epochs) {
  edgeopt::OptionSchema schema;
  edgeopt::addDataLoaderOptions(schema);
  const auto opts = schema.validate(
      edgeopt::ConfigNode::parse("train_transforms: [{random_resized_crop: 224}, {horizontal_flip: 0.5},\n"
                                 "  {normalize: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}}]\n",
                                 "bench"),
      "data");
  edgeopt::LoaderOptions o;
  o.batch_size = 32;
  o.workers = workers;
  auto loader = edgeopt::makeDataLoader(ds, edgeopt::Split::Train, opts, o);
  const double cpu0 = cpuSeconds();
  loader->startEpoch(0);  // warm-up: page cache, allocator
  while (loader->next()) {
  }
  size_t n = 0;
  const auto t0 = Clock::now();
  for (int e = 1; e <= epochs; ++e) {
    loader->startEpoch(e);
    while (auto b = loader->next()) n += static_cast<size_t>(b->images.size(0));
  }
  Rate r;
  r.images_per_s = n / std::chrono::duration<double>(Clock::now() - t0).count();
  r.cpu_ms_per_image = 1000 * (cpuSeconds() - cpu0) / double(n + ds->size(edgeopt::Split::Train));
  return r;
}

// torchvision's figures, negative when it can't run here.
Rate torchvisionRate(const fs::path& root, int workers, int epochs) {
  Rate rate;
  const std::string script = EDGEOPT_BENCH_LOADER_SCRIPT;
  if (!fs::exists(EDGEOPT_SYSTEM_PYTHON)) return rate;
  const std::string cmd = std::string(EDGEOPT_SYSTEM_PYTHON) + " '" + script + "' '" + root.string() + "' " +
                          std::to_string(workers) + " " + std::to_string(epochs) + " 32 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return rate;
  char line[256];
  while (std::fgets(line, sizeof line, p)) {
    std::sscanf(line, "images_per_s %lf", &rate.images_per_s);
    std::sscanf(line, "cpu_ms_per_image %lf", &rate.cpu_ms_per_image);
  }
  pclose(p);
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  edgeopt::usePassiveOpenMPWait(argv);
  edgeopt::tuneMalloc();  // as edgeopt-run: batch buffers stay mapped between steps
  const fs::path work = fs::path(argc > 1 ? argv[1] : "bench-work") / "loader";
  const int images = argc > 2 ? std::atoi(argv[2]) : 256, epochs = argc > 3 ? std::atoi(argv[3]) : 3;
  makeImages(work, images);

  edgeopt::Registries registries;
  edgeopt::PluginHost host(registries);
  host.load(edgeopt::builtinPluginDir() + "/libedgeopt_imagenet.so");
  const auto& factory = registries.of<edgeopt::Dataset>().find("imagenet")->factory;
  std::shared_ptr<const edgeopt::Dataset> ds = factory.create(factory.options.validate(
      edgeopt::ConfigNode::parse("root: " + work.string(), "bench"), "data"));

  // Decode alone, one thread: what the pipeline adds on top.
  const auto t0 = Clock::now();
  for (size_t i = 0; i < ds->size(edgeopt::Split::Train); ++i) ds->get(edgeopt::Split::Train, i);
  const double decode_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / images;

  std::printf("loader: %d JPEGs 500x375, batch 32, %d epochs; decode alone %.2f ms/image (1 thread)\n", images,
              epochs, decode_ms);
  std::printf("%-8s %14s %14s %6s   %14s %14s %6s\n", "workers", "edgeopt img/s", "torchvis img/s", "ratio",
              "edgeopt cpu ms", "torchvis cpu ms", "ratio");
  for (int workers : {1, 2}) {
    const Rate ours = edgeoptRate(ds, workers, epochs), theirs = torchvisionRate(work, workers, epochs);
    if (theirs.images_per_s > 0)
      std::printf("%-8d %14.1f %14.1f %6.2f   %14.3f %14.3f %6.2f\n", workers, ours.images_per_s,
                  theirs.images_per_s, ours.images_per_s / theirs.images_per_s, ours.cpu_ms_per_image,
                  theirs.cpu_ms_per_image, theirs.cpu_ms_per_image / ours.cpu_ms_per_image);
    else
      std::printf("%-8d %14.1f %14s %6s   %14.3f %14s %6s\n", workers, ours.images_per_s, "n/a", "n/a",
                  ours.cpu_ms_per_image, "n/a", "n/a");
  }
  std::printf("ratios: > 1 means EdgeOpt is faster (img/s: ours / theirs; cpu: theirs / ours)\n");
  return 0;
}
