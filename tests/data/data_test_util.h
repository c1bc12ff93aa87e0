#pragma once
// Helpers for the data tests: recipe snippets, an in-memory dataset, and the
// real dataset plugins loaded from the build tree.
#include <edgeopt/config.h>
#include <edgeopt/data_loader.h>
#include <edgeopt/plugin_host.h>
#include <edgeopt/transforms.h>

#include "test_support.h"

#include <opencv2/core.hpp>

#include <set>

namespace edgeopt::test {

inline ConfigNode yaml(const std::string& text) { return ConfigNode::parse(text, "recipe.yaml"); }

// A pipeline from the YAML list text, keyed like the recipe's.
inline TransformPipeline pipelineOf(const std::string& list) {
  return parseTransforms(yaml(list), "data.train_transforms");
}

// Runs a pipeline on one image with a fixed generator; returns the CHW tensor.
inline at::Tensor runPipeline(const std::string& list, const cv::Mat& image, std::vector<Box>* boxes = nullptr,
                              uint64_t seed = 0) {
  Example e;
  e.image = image;
  if (boxes) e.boxes = *boxes;
  Sample s = Sample::fromExample(std::move(e));
  Rng rng(seed, 0, 0);
  pipelineOf(list).apply(s, rng);
  if (boxes) *boxes = s.boxes;
  return imageToTensor(s.image, s.bgr);
}

// The `data:` options as the recipe validator makes them: the loader options
// of data_loader.h (the in-memory dataset has none of its own).
inline Options dataOptions(const std::string& text) {
  OptionSchema schema;
  schema.add("dataset", OptionType::String);
  addDataLoaderOptions(schema);
  return schema.validate(yaml(text), "data");
}

// `n` examples of h x w BGR noise fixed by the index; label = index; the
// indices in `bad` throw InputError("item[i]: bad image") like an unreadable file.
class NoiseDataset : public Dataset {
 public:
  NoiseDataset(size_t n, int h, int w, std::set<size_t> bad = {}) : n_(n), h_(h), w_(w), bad_(std::move(bad)) {}
  size_t size(Split) const override { return n_; }
  Example get(Split, size_t i) const override {
    const std::string source = "item[" + std::to_string(i) + "]";
    if (bad_.count(i)) throw InputError(source + ": bad image");
    Example e;
    e.image = cv::Mat(h_ + int(i % 3), w_, CV_8UC3);  // sizes differ: a crop must fix them
    cv::RNG rng(i + 1);
    rng.fill(e.image, cv::RNG::UNIFORM, 0, 256);
    e.label = static_cast<int64_t>(i);
    e.source = source;
    return e;
  }
  const std::vector<std::string>& classes() const override { return classes_; }
  std::string fingerprint() const override { return "noise"; }

 private:
  size_t n_;
  int h_, w_;
  std::set<size_t> bad_;
  std::vector<std::string> classes_{"a"};
};

// An IDX file's bytes: magic 00 00 <type> <dims.size()>, each size as a
// big-endian 32-bit integer, then `payload` (type 0x08: unsigned bytes).
inline std::string idxBytes(const std::vector<uint32_t>& dims, const std::string& payload, char type = 0x08) {
  std::string out{'\0', '\0', type, char(dims.size())};
  for (uint32_t d : dims) out += {char(d >> 24), char((d >> 16) & 0xFF), char((d >> 8) & 0xFF), char(d & 0xFF)};
  return out + payload;
}

// Every label of one epoch, in order.
inline std::vector<int64_t> epochLabels(DataLoader& loader, int64_t epoch) {
  std::vector<int64_t> out;
  loader.startEpoch(epoch);
  while (auto b = loader.next())
    for (int64_t i = 0; i < b->labels.size(0); ++i) out.push_back(b->labels[i].item<int64_t>());
  return out;
}

// A built-in dataset plugin's dataset, from its options as YAML text; relative
// paths resolve against `base_dir`.
inline std::unique_ptr<Dataset> openDataset(const std::string& plugin, const std::string& options,
                                            const std::string& base_dir = ".") {
  static Registries registries;
  static PluginHost host(registries);
  host.load(std::string(EDGEOPT_BINARY_DIR) + "/lib/edgeopt/plugins/libedgeopt_" + plugin + ".so");
  const auto& factory = registries.of<Dataset>().find(plugin)->factory;
  return factory.create(factory.options.validate(yaml(options), "data", {}, base_dir));
}

}  // namespace edgeopt::test
