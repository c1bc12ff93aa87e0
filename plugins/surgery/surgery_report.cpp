// SurgeryLog: the text lines (log, --dry-run) and the JSON (stage folder).
#include "surgery_stage.h"

#include <nlohmann/json.hpp>

namespace edgeopt::surgery {
namespace {

std::string shortList(const std::vector<std::string>& names, size_t max = 6) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < max; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > max) out += ", ... (" + std::to_string(names.size() - max) + " more)";
  return out;
}

std::string millions(int64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f M", static_cast<double>(v) / 1e6);
  return buf;
}

}  // namespace

std::vector<std::string> SurgeryLog::lines() const {
  std::vector<std::string> out;
  for (const auto& e : entries)
    out.push_back(e.rule + ": " + std::to_string(e.replaced.size()) + " replaced (" + shortList(e.replaced) + ")");
  if (entries.empty()) out.push_back("no rule matches: the model stays as it is");
  out.push_back("params " + millions(params_before) + " -> " + millions(params_after) + ", MACs " +
                millions(macs_before) + " -> " + millions(macs_after));
  return out;
}

std::string SurgeryLog::json() const {
  nlohmann::json j;
  j["replacements"] = nlohmann::json::array();
  for (const auto& e : entries)
    j["replacements"].push_back({{"rule", e.rule}, {"count", e.replaced.size()}, {"nodes", e.replaced}});
  j["before"] = {{"params", params_before}, {"macs", macs_before}, {"ops", ops_before}};
  j["after"] = {{"params", params_after}, {"macs", macs_after}, {"ops", ops_after}};
  return j.dump(2) + "\n";
}

}  // namespace edgeopt::surgery
