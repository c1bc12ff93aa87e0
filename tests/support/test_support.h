#pragma once
// Helpers shared by the tests.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

namespace edgeopt::test {

// A fresh, empty scratch folder for one test: <EDGEOPT_TEST_WORK_DIR>/<name>.
inline std::string scratchDir(const std::string& name) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(EDGEOPT_TEST_WORK_DIR) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

inline std::string writeText(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

inline std::string readText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace edgeopt::test

// Checks that `stmt` throws an exception of type `type` whose what() equals `message`.
#define EDGEOPT_REQUIRE_THROWS_MESSAGE(stmt, type, message) \
  REQUIRE_THROWS_MATCHES(stmt, type, Catch::Matchers::Message(message))
