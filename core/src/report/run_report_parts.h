#pragma once
// The run report's parts (private to the core): what a checkpoint holds
// (model_info.cpp), what the run directory holds (run_record.cpp) and the
// page's sections (report_sections.cpp); run_report.cpp puts them together.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "html.h"

namespace edgeopt::report {

using nlohmann::ordered_json;

// ---------------------------------------------------------------- a checkpoint

struct LayerRow {
  std::string name, op, type, shape;
  int64_t params = 0, macs = 0;
  int64_t weights = 0, zeros = 0;  // elements / exact zeros of its weight tensors (dim >= 2)
  std::string quant;               // quantizer summary (weights, or the activation quantizer itself)
};

struct ModelInfo {
  std::string error;  // non-empty: the checkpoint could not be analyzed
  int64_t params = 0, macs = 0;
  bool has_macs = false;
  std::string input_shape;
  size_t calls = 0;
  int64_t weights = 0, zeros = 0;
  int quantizers = 0;
  std::vector<LayerRow> rows;
};

// Checkpoints do not change once written: analyses are kept per file (path,
// size, time), so rewriting the report after each stage reads each once.
const ModelInfo& analyzeCached(const std::string& checkpoint);

// The per-layer table; `replaced` maps a layer to the surgery rule that made it.
std::string layerTable(const ModelInfo& info, const std::map<std::string, std::string>& replaced);

// ---------------------------------------------------------------- the run directory

struct StageInfo {
  int index = 0;
  std::string kind;
  std::string status;  // done, running, pending
  std::string checkpoint;
  std::vector<ordered_json> rows;  // its metrics rows
};

struct RunRecord {
  std::filesystem::path dir;
  ordered_json state, manifest;
  std::string manifest_text, recipe_text;
  std::vector<std::string> problems;  // unreadable parts, shown in the page
  std::vector<StageInfo> stages;
  int done = 0;                                         // completed stages
  std::map<std::string, std::string> replaced;          // layer -> surgery rule
  std::vector<std::pair<int, ordered_json>> surgeries;  // stage -> surgery.json
  std::vector<ordered_json> onnxruntime;                // onnxruntime.json rows (edgeopt/onnxruntime_eval.h)
};

// Throws InputError when run_dir has no state.json; anything else unreadable
// goes into `problems`.
RunRecord readRun(const std::string& run_dir);

std::string readOr(const std::string& path, const std::string& fallback = "");
std::string nowText();
std::string jsonText(const ordered_json& v);
bool isMetricKey(const std::string& key);
// Percent metrics get 2 decimals, mAP 4, the rest 4 significant digits.
std::string metricText(const std::string& key, const ordered_json& v);
std::vector<Series> seriesOf(const std::vector<ordered_json>& rows, const std::vector<std::string>& keys);

// ---------------------------------------------------------------- sections of the page

std::string stagesSection(const RunRecord& run);
std::string trainingSection(const RunRecord& run);
std::string surgerySection(const RunRecord& run);
std::string pruningSection(const RunRecord& run);
std::string sensitivitySection(const RunRecord& run);  // sensitivity_section.cpp
std::string layersSection(const RunRecord& run);
std::string exportsSection(const RunRecord& run);
std::string manifestSection(const RunRecord& run);

}  // namespace edgeopt::report
