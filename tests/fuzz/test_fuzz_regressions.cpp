// Inputs the fuzz harnesses (fuzz/) found, committed under fuzz/regressions/
// <target>/: each must now fail with its one documented error line.
#include <edgeopt/error.h>

#include "idx_reader.h"
#include "memory_cap.h"
#include "test_support.h"

#include <string>

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
