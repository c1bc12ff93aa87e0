#pragma once
// Fixtures of the import-coverage tests (issue 13), made at test time by
// make_coverage_fixtures.py (see its docstring for the files).
#include "importer_test_util.h"

#include <string>

namespace edgeopt::test {

inline std::string coverageFixture(const std::string& file) {
  static const std::string dir =
      pythonFixtureDir(std::string(EDGEOPT_SOURCE_DIR) + "/tests/importers/make_coverage_fixtures.py",
                       std::string(EDGEOPT_TEST_WORK_DIR) + "/fixtures-coverage");
  return dir + "/" + file;
}

}  // namespace edgeopt::test
