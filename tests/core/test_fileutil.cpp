// File helpers: a write that cannot finish (disk full, `ulimit -f`) is one
// error naming the file and why, and leaves the previous file as it was.
#include <edgeopt/error.h>
#include <edgeopt/fileutil.h>
#include <edgeopt/runtime.h>

#include "test_support.h"

#include <sys/resource.h>

#include <filesystem>

using namespace edgeopt;

TEST_CASE("atomicWrite over the file size limit: one error, the previous file kept, no temporary", "[fileutil]") {
  const std::string dir = test::scratchDir("fileutil-fsize");
  const std::string path = test::writeText(dir + "/model.edgeopt", "the previous model");
  ignoreFileSizeSignal();  // as edgeopt-run does: EFBIG instead of death by SIGXFSZ
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  rlimit small = saved;
  small.rlim_cur = 4096;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  std::string what;
  try {
    atomicWrite(path, std::string(1 << 20, 'x'));
  } catch (const RuntimeFailure& e) {
    what = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  CHECK(what == "writing " + path + " failed: File too large (disk full?); the previous file, if any, is unchanged");
  CHECK(test::readText(path) == "the previous model");
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files += e.is_regular_file();
  CHECK(files == 1);
}

TEST_CASE("staysInside and isLeftoverTemporary", "[fileutil]") {
  CHECK(staysInside("summary.txt"));
  CHECK(staysInside("tables/a/../s.txt"));
  CHECK_FALSE(staysInside("../../escape.txt"));
  CHECK_FALSE(staysInside("a/../../b"));
  CHECK_FALSE(staysInside("/etc/passwd"));
  CHECK_FALSE(staysInside(""));
  CHECK(isLeftoverTemporary("model.edgeopt.tmp-123-9af"));
  CHECK(isLeftoverTemporary("model.pt.tmp-123"));
  CHECK(isLeftoverTemporary("optimizer-epoch-1.pt.tmp"));
  CHECK_FALSE(isLeftoverTemporary("model.tmpl"));
  CHECK_FALSE(isLeftoverTemporary(".tmp"));
}
