// The COCO instances JSON reader of the coco dataset: opening a split parses
// and checks the whole file; fingerprint() stats every image it names.
#include <edgeopt/config.h>
#include <edgeopt/dataset.h>
#include <edgeopt/registry.h>

#include "fuzz_support.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  edgeopt::fuzz::quietLogs();
  edgeopt::fuzz::loadBuiltinPlugin("coco");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = edgeopt::fuzz::writeInput(data, size, ".json");
  static const auto& factory = edgeopt::registries().of<edgeopt::Dataset>().find("coco")->factory;
  static const edgeopt::Options options = factory.options.validate(
      edgeopt::ConfigNode::parse("val_json: " + path + "\nval_images: /nonexistent-edgeopt-fuzz", "fuzz"), "data");
  edgeopt::fuzz::expectHandled([&] {
    auto dataset = factory.create(options);
    dataset->size(edgeopt::Split::Val);
    dataset->fingerprint();
  });
  return 0;
}
