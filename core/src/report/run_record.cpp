// The run report's view of a run directory (run_report_parts.h): stages from
// the recipe, the checkpoints and state.json, and each surgery's record.
#include <edgeopt/error.h>
#include <edgeopt/fileutil.h>

#include "run_report_parts.h"

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <ctime>
#include <regex>

namespace fs = std::filesystem;

namespace edgeopt::report {

std::string readOr(const std::string& path, const std::string& fallback) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return fallback;
  try {
    return readFile(path);
  } catch (const std::exception&) {
    return fallback;
  }
}

std::string nowText() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z", &tm);
  return buf;
}

std::string jsonText(const ordered_json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return report::shortNumber(v.get<double>());
  return v.dump();
}

bool isMetricKey(const std::string& key) {
  return (key.rfind("val_", 0) == 0 && key != "val_images") || key.rfind("ort_", 0) == 0;
}

std::string metricText(const std::string& key, const ordered_json& v) {
  if (!v.is_number()) return escape(jsonText(v));
  const double d = v.get<double>();
  if (key.find("top") != std::string::npos) return report::fixed(d, 2);
  if (key.find("map") != std::string::npos) return report::fixed(d, 4);
  return report::shortNumber(d);
}

std::vector<Series> seriesOf(const std::vector<ordered_json>& rows, const std::vector<std::string>& keys) {
  std::vector<report::Series> out;
  for (const auto& key : keys) {
    Series s{key, {}, {}};
    for (const auto& row : rows)
      if (row.contains("epoch") && row["epoch"].is_number() && row.contains(key) && row[key].is_number()) {
        s.x.push_back(row["epoch"].get<double>());
        s.y.push_back(row[key].get<double>());
      }
    if (!s.y.empty()) out.push_back(std::move(s));
  }
  return out;
}

RunRecord readRun(const std::string& run_dir) {
  const fs::path dir(run_dir);
  const std::string state_text = readOr((dir / "state.json").string());
  if (state_text.empty()) throw InputError(run_dir + ": not a run directory (state.json missing)");
  ordered_json state, manifest;
  std::vector<std::string> problems;
  try {
    state = ordered_json::parse(state_text);
  } catch (const std::exception& e) {
    problems.push_back("state.json is malformed: " + std::string(e.what()));
  }
  const std::string manifest_text = readOr((dir / "manifest.json").string());
  try {
    if (!manifest_text.empty()) manifest = ordered_json::parse(manifest_text);
  } catch (const std::exception& e) {
    problems.push_back("manifest.json is malformed: " + std::string(e.what()));
  }
  const std::string recipe_text = readOr((dir / "recipe.yaml").string());

  // Stages: the recipe's list, else what the checkpoints name.
  std::vector<StageInfo> stages;
  try {
    const YAML::Node recipe = YAML::Load(recipe_text);
    if (recipe["stages"] && recipe["stages"].IsSequence())
      for (size_t i = 0; i < recipe["stages"].size(); ++i) {
        const YAML::Node s = recipe["stages"][i];
        stages.push_back({static_cast<int>(i), s.IsMap() && s["kind"] ? s["kind"].as<std::string>() : "?", "", "", {}});
      }
  } catch (const std::exception& e) {
    problems.push_back("recipe.yaml is unreadable: " + std::string(e.what()));
  }
  const int done = state.is_object() && state.contains("completed_stages") && state["completed_stages"].is_number()
                       ? state["completed_stages"].get<int>() : 0;
  const std::regex checkpoint_name(R"(stage-(\d+)-(.+)\.edgeopt)");
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir / "checkpoints", ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::smatch m;
    const std::string name = it->path().filename().string();
    if (!std::regex_match(name, m, checkpoint_name)) continue;
    const int i = std::stoi(m[1].str());
    if (i >= done) continue;  // a stale checkpoint of a stage being redone
    if (static_cast<size_t>(i) >= stages.size()) stages.resize(static_cast<size_t>(i) + 1);
    stages[static_cast<size_t>(i)].index = i;
    if (stages[static_cast<size_t>(i)].kind.empty()) stages[static_cast<size_t>(i)].kind = m[2].str();
    stages[static_cast<size_t>(i)].checkpoint = it->path().string();
  }
  if (state.is_object() && state.contains("metrics") && state["metrics"].is_array())
    for (const auto& row : state["metrics"]) {
      if (!row.is_object() || !row.contains("stage") || !row["stage"].is_number_integer()) continue;
      const int i = row["stage"].get<int>();
      if (i < 0) continue;
      if (static_cast<size_t>(i) >= stages.size()) stages.resize(static_cast<size_t>(i) + 1);
      if (stages[static_cast<size_t>(i)].kind.empty()) stages[static_cast<size_t>(i)].kind = row.value("kind", "?");
      stages[static_cast<size_t>(i)].rows.push_back(row);
    }
  for (size_t i = 0; i < stages.size(); ++i) {
    stages[i].index = static_cast<int>(i);
    stages[i].status = static_cast<int>(i) < done ? "done"
                       : static_cast<int>(i) == done && state.is_object() && state.contains("progress") ? "in progress"
                                                                                                          : "pending";
  }
  // Surgery: replaced layer name -> rule, and each surgery stage's record.
  std::map<std::string, std::string> replaced;
  std::vector<std::pair<int, ordered_json>> surgeries;
  for (const auto& s : stages) {
    const std::string text = readOr((dir / "stages" / (std::to_string(s.index) + "-" + s.kind) / "surgery.json").string());
    if (text.empty()) continue;
    try {
      ordered_json j = ordered_json::parse(text);
      if (j.contains("replacements") && j["replacements"].is_array())
        for (const auto& r : j["replacements"])
          if (r.contains("nodes") && r["nodes"].is_array())
            for (const auto& n : r["nodes"])
              if (n.is_string()) replaced[n.get<std::string>()] = r.value("rule", "?");
      surgeries.emplace_back(s.index, std::move(j));
    } catch (const std::exception& e) {
      problems.push_back("surgery.json of stage " + std::to_string(s.index) + " is malformed: " + e.what());
    }
  }

  // Exports scored in ONNX Runtime (edgeopt-run --onnxruntime), one row each.
  std::vector<ordered_json> onnxruntime;
  const std::string ort_text = readOr((dir / "onnxruntime.json").string());
  if (!ort_text.empty()) {
    try {
      const ordered_json j = ordered_json::parse(ort_text);
      if (j.is_object() && j.contains("rows") && j["rows"].is_array())
        for (const auto& r : j["rows"])
          if (r.is_object()) onnxruntime.push_back(r);
    } catch (const std::exception& e) {
      problems.push_back("onnxruntime.json is malformed: " + std::string(e.what()));
    }
  }

  RunRecord run;
  run.dir = dir;
  run.state = std::move(state);
  run.manifest = std::move(manifest);
  run.manifest_text = manifest_text;
  run.recipe_text = recipe_text;
  run.problems = std::move(problems);
  run.stages = std::move(stages);
  run.done = done;
  run.replaced = std::move(replaced);
  run.surgeries = std::move(surgeries);
  run.onnxruntime = std::move(onnxruntime);
  return run;
}

}  // namespace edgeopt::report
