#pragma once
// The metrics rows a run wrote (<run>/metrics.jsonl), one JSON object a line.
#include "test_support.h"

#include <nlohmann/json.hpp>

#include <sstream>
#include <string>
#include <vector>

namespace edgeopt::test {

inline std::vector<nlohmann::json> metricsRows(const std::string& run_dir) {
  std::vector<nlohmann::json> rows;
  std::istringstream in(readText(run_dir + "/metrics.jsonl"));
  for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

}  // namespace edgeopt::test
