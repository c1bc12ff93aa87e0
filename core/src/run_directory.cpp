#include "run_directory.h"

#include <edgeopt/distributed.h>
#include <edgeopt/fileutil.h>
#include <edgeopt/plugin.h>
#include <edgeopt/runtime.h>
#include <edgeopt/version.h>
#include <edgeopt_git_commit.h>

#include <torch/version.h>

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

namespace fs = std::filesystem;
using nlohmann::json;

namespace edgeopt {
namespace {

std::string timestamp(const char* format) {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  return "unknown";
}

json hostInfo() {
  utsname u{};
  ::uname(&u);
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  return {{"hostname", host},
          {"os", std::string(u.sysname) + " " + u.release},
          {"arch", u.machine},
          {"cpu", cpuModel()},
          {"cores", std::thread::hardware_concurrency()}};
}

}  // namespace

RunDirectory RunDirectory::create(const Recipe& recipe, const std::string& explicit_dir) {
  std::error_code ec;
  if (!explicit_dir.empty()) {
    if (fs::exists(explicit_dir, ec) && !(fs::is_directory(explicit_dir, ec) && fs::is_empty(explicit_dir, ec)))
      throw UsageError("--output " + explicit_dir +
                       ": already exists and is not empty; use --resume to continue that run, or choose a new folder");
    fs::create_directories(explicit_dir, ec);
    if (ec) throw UsageError("--output " + explicit_dir + ": cannot create it: " + ec.message());
    return RunDirectory(explicit_dir);
  }
  const std::string base = (fs::path(recipe.output_root) / (recipe.name + "-" + timestamp("%Y%m%d-%H%M%S"))).string();
  std::string dir = base;
  for (int n = 2; fs::exists(dir, ec); ++n) dir = base + "-" + std::to_string(n);
  fs::create_directories(dir, ec);
  if (ec) throw RuntimeFailure("cannot create the run directory " + dir + ": " + ec.message());
  return RunDirectory(dir);
}

RunDirectory RunDirectory::open(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw UsageError("--resume " + dir + ": no such run directory");
  RunDirectory run(dir);
  if (!fs::exists(run.recipeFile(), ec) || !fs::exists(run.file("state.json"), ec))
    throw UsageError("--resume " + dir + ": not a run directory (recipe.yaml or state.json missing)");
  return run;
}

std::string RunDirectory::file(const std::string& relative) const { return (fs::path(path_) / relative).string(); }

std::string RunDirectory::stageCheckpoint(int index, const std::string& kind) const {
  return file("checkpoints/stage-" + std::to_string(index) + "-" + kind + ".edgeopt");
}

std::string RunDirectory::progressCheckpointName(int index) const {
  return "checkpoints/progress-stage-" + std::to_string(index) + ".edgeopt";
}

void RunDirectory::writeRecipe(const Recipe& recipe) const {
  atomicWrite(recipeFile(), "# Resolved from " + recipe.path + " (after --set and ${vars}).\n" +
                                recipe.document.toYaml());
}

void RunDirectory::writeManifest(const Recipe& recipe, const PluginHost& host,
                                 const std::string& command_line) const {
  json plugins = json::array();
  for (const auto& p : host.plugins()) {
    json provides = json::array();
    for (const auto& [kind, name] : p.provides) provides.push_back(std::string(toString(kind)) + ":" + name);
    plugins.push_back({{"name", p.name}, {"version", p.version}, {"api_version", p.api_version},
                       {"path", p.path}, {"sha256", p.sha256}, {"provides", provides}});
  }
  json manifest = {
      {"edgeopt", {{"version", EDGEOPT_VERSION}, {"git_commit", EDGEOPT_GIT_COMMIT},
                   {"plugin_api_version", EDGEOPT_PLUGIN_API_VERSION}}},
      {"libtorch", {{"version", TORCH_VERSION}}},
      {"recipe", {{"path", recipe.path}, {"dir", fs::absolute(recipe.dir).lexically_normal().string()},
                  {"name", recipe.name}, {"sha256", sha256File(recipe.path)}}},
      {"command_line", command_line},
      {"seed", recipe.seed},
      {"deterministic", recipe.deterministic},
      {"threads", recipe.threads},
      {"effective_threads", effectiveThreads(recipe.threads)},  // what `threads` (0: all cores) gave here
      {"world_size", dist::worldSize()},  // data parallel ranks (1: not distributed)
      {"plugins", plugins},
      {"host", hostInfo()},
      {"started_at", timestamp("%Y-%m-%dT%H:%M:%S%z")},
  };
  atomicWrite(file("manifest.json"), manifest.dump(2) + "\n");
}

nlohmann::json RunDirectory::readManifest() const {
  try {
    return json::parse(readFile(file("manifest.json")));
  } catch (const json::exception& e) {
    throw InputError(file("manifest.json") + ": malformed (" + e.what() + ")");
  }
}

nlohmann::json RunDirectory::recordedData() const { return readManifest().value("data", json()); }

void RunDirectory::recordData(const nlohmann::json& data) const {
  json manifest = readManifest();
  manifest["data"] = data;
  atomicWrite(file("manifest.json"), manifest.dump(2) + "\n");
}

ResumeState RunDirectory::readState(size_t stages) const {
  const std::string path = file("state.json");
  auto bad = [&](const std::string& key, const std::string& what) { return InputError(path + ": " + key + ": " + what); };
  ResumeState state;
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(readFile(path));
  } catch (const json::exception& e) {
    throw InputError(path + ": malformed (" + e.what() + ")");
  }
  if (!j.is_object()) throw InputError(path + ": expected a JSON object");
  if (!j.contains("completed_stages")) throw InputError(path + ": missing 'completed_stages'");
  // nlohmann reads a non-negative integer as unsigned; get<int> would wrap a huge one.
  const auto& done = j["completed_stages"];
  if (!done.is_number_unsigned() || done.get<uint64_t>() > stages)
    throw bad("completed_stages", "must be an integer from 0 to " + std::to_string(stages) +
                                      ", the recipe's stage count (got " + done.dump() + ")");
  state.completed_stages = static_cast<int>(done.get<uint64_t>());
  if (j.contains("metrics")) {
    if (!j["metrics"].is_array()) throw bad("metrics", "expected a list of rows");
    for (const auto& row : j["metrics"]) {
      if (!row.is_object()) throw bad("metrics", "expected rows that are objects, got " + row.dump());
      state.metrics.push_back(row);
    }
  }
  if (j.contains("progress")) {
    const auto& p = j["progress"];
    if (!p.is_object() || !p.contains("state") || !p["state"].is_string() || !p.contains("checkpoint") ||
        !p["checkpoint"].is_string())
      throw bad("progress", "expected {state: text, checkpoint: path}");
    if (static_cast<size_t>(state.completed_stages) == stages)
      throw bad("progress", "records progress in a stage after the last one");
    state.progress_state = p["state"].get<std::string>();
    state.progress_checkpoint = p["checkpoint"].get<std::string>();
    std::error_code ec;
    if (!staysInside(state.progress_checkpoint) || !fs::is_regular_file(file(state.progress_checkpoint), ec))
      throw bad("progress.checkpoint", "must name a file inside the run directory (got \"" +
                                           state.progress_checkpoint + "\")");
  }
  return state;
}

size_t RunDirectory::removeLeftoverTemporaries() const {
  std::vector<fs::path> leftovers;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(path_, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_regular_file(ec) && isLeftoverTemporary(it->path().filename().string())) leftovers.push_back(it->path());
  for (const auto& p : leftovers) fs::remove(p, ec);
  return leftovers.size();
}

std::string RunDirectory::recipeBaseDir() const {
  try {
    return json::parse(readFile(file("manifest.json"))).at("recipe").at("dir").get<std::string>();
  } catch (const json::exception& e) {
    throw InputError(file("manifest.json") + ": malformed (" + e.what() + ")");
  }
}

void RunDirectory::writeState(const ResumeState& state) const {
  nlohmann::ordered_json j = {{"completed_stages", state.completed_stages}, {"metrics", state.metrics}};
  if (state.progress_state)
    j["progress"] = {{"state", *state.progress_state}, {"checkpoint", state.progress_checkpoint}};
  atomicWrite(file("state.json"), j.dump(2) + "\n");
  if (state.metrics.empty()) return;

  std::string jsonl;
  std::vector<std::string> columns;  // in order of first appearance
  for (const auto& row : state.metrics) {
    jsonl += row.dump() + "\n";
    for (const auto& item : row.items())
      if (std::find(columns.begin(), columns.end(), item.key()) == columns.end()) columns.push_back(item.key());
  }
  std::string csv;
  for (size_t i = 0; i < columns.size(); ++i) csv += (i ? "," : "") + columns[i];
  csv += "\n";
  for (const auto& row : state.metrics) {
    for (size_t i = 0; i < columns.size(); ++i) {
      if (i) csv += ",";
      if (!row.contains(columns[i])) continue;
      const json& v = row[columns[i]];
      csv += v.is_string() ? v.get<std::string>() : v.dump();
    }
    csv += "\n";
  }
  atomicWrite(file("metrics.jsonl"), jsonl);
  atomicWrite(file("metrics.csv"), csv);
}

}  // namespace edgeopt
