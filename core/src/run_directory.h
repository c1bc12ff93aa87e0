#pragma once
// The files of one run directory (see runner.h): creation, manifest, and the
// resume state. Private to the core.
#include <edgeopt/plugin_host.h>
#include <edgeopt/recipe.h>

#include <nlohmann/json.hpp>

#include <optional>
#include <vector>
#include <string>

namespace edgeopt {

struct ResumeState {
  int completed_stages = 0;
  // In-stage progress of stage `completed_stages`, if it saved any.
  std::optional<std::string> progress_state;
  std::string progress_checkpoint;  // relative to the run directory
  // Every metrics row recorded so far (JSON objects), across stages.
  std::vector<nlohmann::ordered_json> metrics;  // keys in the order written
};

class RunDirectory {
 public:
  // A new directory: `explicit_dir` if given (must not exist or be empty),
  // else <root>/<name>-<YYYYmmdd-HHMMSS>[-N].
  static RunDirectory create(const Recipe& recipe, const std::string& explicit_dir);
  // An existing run directory to resume; UsageError if it isn't one.
  static RunDirectory open(const std::string& dir);
  // A directory another process (rank 0 of a distributed run) created.
  static RunDirectory existing(const std::string& dir) { return RunDirectory(dir); }

  const std::string& path() const { return path_; }
  std::string file(const std::string& relative) const;
  std::string recipeFile() const { return file("recipe.yaml"); }
  std::string stageCheckpoint(int index, const std::string& kind) const;
  std::string progressCheckpointName(int index) const;

  void writeRecipe(const Recipe& recipe) const;
  void writeManifest(const Recipe& recipe, const PluginHost& host, const std::string& command_line) const;
  // The manifest's "data" entry (what identifies the dataset the run trained
  // on: see Runner), null until the run first opens its dataset.
  nlohmann::json recordedData() const;
  // Sets the manifest's "data" entry (manifest.json rewritten atomically).
  void recordData(const nlohmann::json& data) const;
  // state.json, validated for a recipe of `stages` stages like a recipe is
  // (InputError naming the file, the key and what is wrong).
  ResumeState readState(size_t stages) const;
  // Removes the temporaries a killed writer left (isLeftoverTemporary);
  // returns how many.
  size_t removeLeftoverTemporaries() const;
  // The folder the run's recipe was read from: its relative paths resolve there.
  std::string recipeBaseDir() const;
  // Writes state.json, then metrics.jsonl and metrics.csv from state.metrics
  // (each atomically; state.json is the one --resume trusts).
  void writeState(const ResumeState& state) const;

 private:
  explicit RunDirectory(std::string path) : path_(std::move(path)) {}
  nlohmann::json readManifest() const;  // InputError naming the file when malformed
  std::string path_;
};

}  // namespace edgeopt
