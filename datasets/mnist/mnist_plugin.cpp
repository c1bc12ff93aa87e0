// The "mnist" dataset: MNIST or Fashion-MNIST from their IDX files.
//   data:
//     dataset: mnist
//     root: /usr/share/datasets/fashion-mnist   # train-images-idx3-ubyte[.gz], t10k-*, ...
//     variant: fashion                          # class names; mnist: "0".."9"
//     classes: [...]                            # optional: your own names, one per label
// Train is the train-* files, val the t10k-* files. Images are 1-channel
// (add grayscale_to_rgb for a 3-channel model); everything is decoded into
// memory when the dataset opens (47 MB for Fashion-MNIST's train split).
#include <edgeopt/dataset.h>
#include <edgeopt/error.h>
#include <edgeopt/options.h>
#include <edgeopt/plugin.h>

#include "idx_reader.h"

#include <sstream>

namespace {

using edgeopt::Split;

class MnistDataset : public edgeopt::Dataset {
 public:
  MnistDataset(const std::string& root, std::vector<std::string> classes)
      : train_(edgeopt::idx::readSplit(root, "train")), val_(edgeopt::idx::readSplit(root, "t10k")),
        classes_(std::move(classes)) {
    for (const auto* s : {&train_, &val_})
      for (size_t i = 0; i < s->count(); ++i)
        if (s->labels.data[i] >= classes_.size())
          throw edgeopt::InputError(s->labels.path + ": label " + std::to_string(s->labels.data[i]) + " at index " +
                                    std::to_string(i) + " is outside 0.." + std::to_string(classes_.size() - 1) +
                                    " (the number of classes)");
  }

  size_t size(Split split) const override { return of(split).count(); }

  edgeopt::Example get(Split split, size_t index) const override {
    const auto& s = of(split);
    if (index >= s.count())
      throw edgeopt::RuntimeFailure("mnist: index " + std::to_string(index) + " out of range");
    const int rows = static_cast<int>(s.images.dims[1]), cols = static_cast<int>(s.images.dims[2]);
    auto* pixels = const_cast<uint8_t*>(s.images.data.data()) + index * size_t(rows) * cols;
    edgeopt::Example e;
    e.image = cv::Mat(rows, cols, CV_8UC1, pixels).clone();  // the caller owns its pixels
    e.label = s.labels.data[index];
    e.source = s.images.path + "[" + std::to_string(index) + "]";
    return e;
  }

  const std::vector<std::string>& classes() const override { return classes_; }

  std::string fingerprint() const override {
    std::ostringstream o;
    o << "mnist";
    for (const auto* a : {&train_.images, &train_.labels, &val_.images, &val_.labels}) {
      o << " " << a->path << ":";
      for (size_t d = 0; d < a->dims.size(); ++d) o << (d ? "x" : "") << a->dims[d];
      o << ":crc32=" << std::hex << a->crc32 << std::dec;
    }
    return o.str();
  }

 private:
  const edgeopt::idx::Split& of(Split s) const { return s == Split::Train ? train_ : val_; }
  edgeopt::idx::Split train_, val_;
  std::vector<std::string> classes_;
};

edgeopt::OptionSchema schema() {
  using edgeopt::OptionType;
  edgeopt::OptionSchema s;
  s.add("root", OptionType::Path).required().help("folder with train-images-idx3-ubyte[.gz] and the other 3 files");
  s.add("variant", OptionType::String)
      .defaultValue(std::string("mnist"))
      .choices({"mnist", "fashion"})
      .help("which class names: digits or Fashion-MNIST's");
  s.add("classes", OptionType::StringList).help("class names by label (overrides variant's)");
  return s;
}

void registerMnist(edgeopt::PluginRegistrar& r) {
  r.add<edgeopt::Dataset>(
      "mnist", {"MNIST / Fashion-MNIST IDX files (gzipped or not)", schema(),
                [](const edgeopt::Options& o) -> std::unique_ptr<edgeopt::Dataset> {
                  auto classes = o.has("classes") ? o.get<std::vector<std::string>>("classes")
                                                  : edgeopt::idx::classNames(o.get<std::string>("variant"));
                  if (classes.empty()) o.fail("classes", "expected at least one class name");
                  return std::make_unique<MnistDataset>(o.get<std::string>("root"), std::move(classes));
                }});
}

}  // namespace

EDGEOPT_PLUGIN("0.1.0", "MNIST and Fashion-MNIST (IDX files)", registerMnist)
