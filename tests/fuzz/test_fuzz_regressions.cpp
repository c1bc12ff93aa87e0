// Inputs the fuzz harnesses (fuzz/) found, committed under fuzz/regressions/
// <target>/: each must now fail with its one documented error line.
#include <edgeopt/error.h>
#include <edgeopt/image_io.h>

#include <string>

#include "idx_reader.h"
#include "memory_cap.h"
#include "test_support.h"

namespace {

std::string regression(const std::string& target, const std::string& name) {
  return std::string(EDGEOPT_SOURCE_DIR) + "/fuzz/regressions/" + target + "/" + name;
}

constexpr uint64_t kOneGiB = uint64_t{1} << 30;

}  // namespace

TEST_CASE("idx: a 16-byte file announcing 16 GiB fails as truncated within 1 GiB", "[fuzz][idx]") {
  const std::string path = regression("idx", "header-claims-16gib-ubyte");
  const auto r = edgeopt::test::runWithMemoryCap(kOneGiB, [&] { edgeopt::idx::read(path, 3); });
  CHECK(r.completed);
  CHECK(r.error == path + ": truncated: 0 of 17179869184 data bytes");
}

TEST_CASE("image: a 331-byte gray JPEG declaring 65500x65500 fails before allocating its 4 GiB", "[fuzz][image]") {
  // The harness's first byte picks the channel count (fuzz_image.cpp); 0: 3 channels.
  const std::string bytes = edgeopt::test::readText(regression("image", "jpeg-declares-65500x65500.bin")).substr(1);
  REQUIRE(bytes.size() == 331);
  const auto r = edgeopt::test::runWithMemoryCap(kOneGiB, [&] { edgeopt::decodeImage(bytes, "declared.jpg", 3); });
  CHECK(r.completed);
  CHECK(r.error ==
        "declared.jpg: 65500x65500 pixels, more than the 1073741824 an image may have (CV_IO_MAX_IMAGE_PIXELS)");
}
