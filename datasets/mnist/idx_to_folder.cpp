// edgeopt-idx2folder: turns MNIST/Fashion-MNIST IDX files into an
// ImageNet-style folder tree, OUT/{train,val}/<class>/NNNNN.png (NNNNN = the
// example's index in its IDX file), which the imagenet dataset reads.
// scripts/fetch-data.sh builds the default data with it.
//
// The imagenet dataset numbers classes by sorted folder name (torchvision's
// ImageFolder), so labels there differ from the IDX label values whenever
// the names don't sort in label order (Fashion-MNIST's don't).
#include <edgeopt/tool_main.h>

#include "idx_reader.h"

#include <CLI/CLI.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  CLI::App app{"Converts MNIST / Fashion-MNIST IDX files to OUT/{train,val}/<class>/NNNNN.png"};
  std::string in, out, variant = "mnist";
  std::vector<size_t> expect;
  app.add_option("idx_dir", in, "folder with train-images-idx3-ubyte[.gz], t10k-*, ...")->required();
  app.add_option("out_dir", out, "output folder (created)")->required();
  app.add_option("--variant", variant, "class names: mnist (digits) or fashion")->check(CLI::IsMember({"mnist", "fashion"}));
  app.add_option("--expect", expect, "image counts the train and t10k files must hold (e.g. 60000,10000)")
      ->delimiter(',')
      ->expected(2);
  CLI11_PARSE(app, argc, argv);
  return edgeopt::reportErrors([&] {
    const auto classes = edgeopt::idx::classNames(variant);
    size_t k = 0;
    for (const auto& [prefix, split] : {std::pair<std::string, std::string>{"train", "train"}, {"t10k", "val"}}) {
      const auto s = edgeopt::idx::readSplit(in, prefix);
      if (!expect.empty() && s.count() != expect[k])
        throw edgeopt::InputError(s.images.path + ": holds " + std::to_string(s.count()) + " images, expected " +
                                  std::to_string(expect[k]) + " (an incomplete or different release?)");
      ++k;
      const int rows = static_cast<int>(s.images.dims[1]), cols = static_cast<int>(s.images.dims[2]);
      // Only classes that occur get a folder: ImageFolder rejects empty ones.
      std::vector<bool> made(classes.size(), false);
      for (size_t i = 0; i < s.count(); ++i) {
        const uint8_t label = s.labels.data[i];
        if (label >= classes.size())
          throw edgeopt::InputError(s.labels.path + ": label " + std::to_string(label) + " at index " +
                                    std::to_string(i) + " has no class name");
        if (!made[label]) fs::create_directories(fs::path(out) / split / classes[label]);
        made[label] = true;
        cv::Mat img(rows, cols, CV_8UC1, const_cast<uint8_t*>(s.images.data.data()) + i * size_t(rows) * cols);
        char name[32];
        std::snprintf(name, sizeof name, "%05zu.png", i);
        const std::string path = (fs::path(out) / split / classes[label] / name).string();
        if (!cv::imwrite(path, img)) throw edgeopt::InputError(path + ": cannot be written");
      }
      std::cout << split << ": " << s.count() << " images (" << rows << "x" << cols << ")\n";
    }
    return 0;
  });
}
