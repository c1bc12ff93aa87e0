// The run report (see edgeopt/report.h): reads the run directory, renders
// one HTML page with inline SVG charts.
#include <edgeopt/error.h>
#include <edgeopt/fileutil.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/summary.h>
#include <edgeopt/quant/qparams.h>
#include <edgeopt/report.h>

#include "html.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <unordered_map>

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace edgeopt {
namespace {

using report::escape;

// ---------------------------------------------------------------- model analysis

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

// "uint8", "int8", "int4": the quantizer's grid.
std::string gridName(const ir::Node& fq) {
  const auto spec = quant::QParamSpec::of(fq);
  const int bits = static_cast<int>(std::lround(std::log2(static_cast<double>(spec.quant_max - spec.quant_min + 1))));
  return std::string(spec.quant_min < 0 ? "int" : "uint") + std::to_string(bits) + (spec.power_of_2 ? " p2" : "") +
         (spec.symmetric ? " sym" : "");
}

const at::Tensor* paramInput(const GraphModule& m, const ir::Node& n, size_t i) {
  if (i >= n.numInputs()) return nullptr;
  const ir::Node* p = n.input(i)->producer();
  if (p->opcode() != ir::Opcode::Param || !m.hasTensor(p->target())) return nullptr;
  return &m.tensor(p->target());
}

// "uint8 scale 0.02353 zp 0 range [0, 6]" (per tensor) or
// "int8 sym per-channel (16) scale 0.0011–0.023 zp 0" (per channel).
std::string describeQuantizer(const GraphModule& m, const ir::Node& fq) {
  std::string out = gridName(fq);
  const at::Tensor* scale = paramInput(m, fq, quant::kScale);
  const at::Tensor* zp = paramInput(m, fq, quant::kZeroPoint);
  if (!scale || !zp || scale->numel() == 0) return out;
  const at::Tensor s = scale->to(at::kDouble), z = zp->to(at::kLong);
  if (s.numel() == 1) {
    out += " scale " + report::shortNumber(s.item<double>()) + " zp " + std::to_string(z.item<int64_t>());
    const at::Tensor* lo = paramInput(m, fq, quant::kMinVal);
    const at::Tensor* hi = paramInput(m, fq, quant::kMaxVal);
    if (lo && hi && lo->numel() == 1 && hi->numel() == 1)
      out += " range [" + report::shortNumber(lo->to(at::kDouble).item<double>()) + ", " +
             report::shortNumber(hi->to(at::kDouble).item<double>()) + "]";
    return out;
  }
  const int64_t zmin = z.min().item<int64_t>(), zmax = z.max().item<int64_t>();
  return out + " per-channel (" + std::to_string(s.numel()) + ") scale " + report::shortNumber(s.min().item<double>()) +
         "\u2013" + report::shortNumber(s.max().item<double>()) + " zp " +
         (zmin == zmax ? std::to_string(zmin) : std::to_string(zmin) + "\u2013" + std::to_string(zmax));
}

ModelInfo analyze(const std::string& checkpoint) {
  ModelInfo info;
  std::shared_ptr<GraphModule> m;
  try {
    m = GraphModule::load(checkpoint);
  } catch (const std::exception& e) {
    info.error = e.what();
    return info;
  }
  for (const auto& [name, t] : m->namedParameters()) info.params += t.numel();
  if (!m->exampleInputShapes().empty()) {
    try {
      const auto summary = ir::summarize(*m, m->exampleInputShapes()[0]);
      info.macs = summary.totalMacs;
      info.has_macs = true;
      info.input_shape = ir::formatShape(summary.inputShape);
    } catch (const std::exception& e) {
      info.error = std::string("MACs unknown: ") + e.what();
    }
  }
  // A call is on the weight side when it only computes on parameters (BN
  // folding, weight fake-quant): it is shown in the row of the layer using it.
  const auto nodes = m->graph().nodes();
  std::unordered_map<const ir::Node*, bool> weight_side;
  for (const ir::Node* n : nodes) {
    if (n->opcode() != ir::Opcode::Call) continue;
    bool ws = n->numInputs() > 0;
    for (const ir::Value* v : n->inputs()) {
      const ir::Node* p = v->producer();
      ws = ws && (p->opcode() == ir::Opcode::Param || (p->opcode() == ir::Opcode::Call && weight_side[p]));
    }
    weight_side[n] = ws;
  }
  auto ownerOf = [&](const ir::Node* n) -> const ir::Node* {
    std::vector<const ir::Node*> todo{n};
    std::set<const ir::Node*> seen;
    while (!todo.empty()) {
      const ir::Node* cur = todo.front();
      todo.erase(todo.begin());
      for (size_t o = 0; o < cur->numOutputs(); ++o)
        for (const ir::Node* u : cur->output(o)->users()) {
          if (u->opcode() != ir::Opcode::Call || !seen.insert(u).second) continue;
          if (!weight_side[u]) return u;
          todo.push_back(u);
        }
    }
    return nullptr;
  };
  auto metaInt = [](const ir::Node& n, const char* key) -> int64_t {
    auto it = n.meta().find(key);
    if (it == n.meta().end()) return 0;
    const auto* v = std::any_cast<int64_t>(&it->second);
    return v ? *v : 0;
  };
  std::unordered_map<const ir::Node*, size_t> row_of;
  auto rowFor = [&](const ir::Node* n) -> LayerRow& {
    auto it = row_of.find(n);
    if (it != row_of.end()) return info.rows[it->second];
    LayerRow r;
    r.name = n->name();
    r.op = n->target();
    r.type = n->moduleType();
    if (n->numOutputs() && n->output()->shape()) r.shape = ir::formatShape(*n->output()->shape());
    row_of[n] = info.rows.size();
    info.rows.push_back(std::move(r));
    return info.rows.back();
  };
  std::set<std::string> counted;  // a tensor used by several calls counts once
  for (const ir::Node* n : nodes) {
    if (n->opcode() != ir::Opcode::Call) continue;
    ++info.calls;
    const ir::Node* owner = weight_side[n] ? ownerOf(n) : n;
    if (!owner) owner = n;
    LayerRow& row = rowFor(owner);
    row.macs += metaInt(*n, "macs");
    for (size_t i = 0; i < n->numInputs(); ++i) {
      const ir::Node* p = n->input(i)->producer();
      if (p->opcode() != ir::Opcode::Param || !m->hasTensor(p->target()) || m->isBuffer(p->target())) continue;
      if (!counted.insert(p->target()).second) continue;
      const at::Tensor& t = m->tensor(p->target());
      row.params += t.numel();
      if (t.dim() >= 2) {
        const int64_t zeros = (t == 0).sum().item<int64_t>();
        row.weights += t.numel(), row.zeros += zeros;
        info.weights += t.numel(), info.zeros += zeros;
      }
    }
    if (n->target() == "fake_quant") {
      ++info.quantizers;
      try {
        const std::string q = describeQuantizer(*m, *n);
        row.quant += (row.quant.empty() ? "" : "; ") + std::string(owner != n ? "weights " : "") + q;
      } catch (const std::exception& e) {
        row.quant += (row.quant.empty() ? "" : "; ") + std::string("unreadable: ") + e.what();
      }
    }
  }
  return info;
}

// Checkpoints do not change once written: analyses are kept per file (path,
// size, time), so rewriting the report after each stage reads each once.
const ModelInfo& analyzeCached(const std::string& checkpoint) {
  static std::mutex mutex;
  static std::map<std::string, std::pair<std::string, ModelInfo>> cache;
  std::error_code ec;
  const auto size = fs::file_size(checkpoint, ec);
  const auto time = fs::last_write_time(checkpoint, ec).time_since_epoch().count();
  const std::string key = std::to_string(size) + ":" + std::to_string(time);
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(checkpoint);
  if (it == cache.end() || it->second.first != key) it = cache.insert_or_assign(checkpoint, std::make_pair(key, analyze(checkpoint))).first;
  return it->second.second;
}

// ---------------------------------------------------------------- run directory

struct StageInfo {
  int index = 0;
  std::string kind;
  std::string status;  // done, running, pending
  std::string checkpoint;
  std::vector<ordered_json> rows;  // its metrics rows
};

std::string readOr(const std::string& path, const std::string& fallback = "") {
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

// Percent metrics get 2 decimals, mAP 4, the rest 4 significant digits.
std::string metricText(const std::string& key, const ordered_json& v) {
  if (!v.is_number()) return escape(jsonText(v));
  const double d = v.get<double>();
  if (key.find("top") != std::string::npos) return report::fixed(d, 2);
  if (key.find("map") != std::string::npos) return report::fixed(d, 4);
  return report::shortNumber(d);
}

std::vector<report::Series> seriesOf(const std::vector<ordered_json>& rows, const std::vector<std::string>& keys) {
  std::vector<report::Series> out;
  for (const auto& key : keys) {
    report::Series s{key, {}, {}};
    for (const auto& row : rows)
      if (row.contains("epoch") && row["epoch"].is_number() && row.contains(key) && row[key].is_number()) {
        s.x.push_back(row["epoch"].get<double>());
        s.y.push_back(row[key].get<double>());
      }
    if (!s.y.empty()) out.push_back(std::move(s));
  }
  return out;
}

std::string layerTable(const ModelInfo& info, const std::map<std::string, std::string>& replaced) {
  const bool sparsity = info.zeros > 0, quant = info.quantizers > 0;
  bool surgery = false;
  for (const auto& r : info.rows) surgery = surgery || replaced.count(r.name);
  report::Table t;
  t.cssClass = "layers";
  t.header = {"#", "layer", "op", "module", "output", "params", "MACs"};
  t.numeric = {0, 5, 6};
  if (sparsity) t.numeric.push_back(t.header.size()), t.header.push_back("sparsity %");
  if (quant) t.header.push_back("quantization");
  if (surgery) t.header.push_back("surgery");
  for (size_t i = 0; i < info.rows.size(); ++i) {
    const auto& r = info.rows[i];
    std::vector<std::string> cells = {std::to_string(i), escape(r.name), escape(r.op), escape(r.type), escape(r.shape),
                                      r.params ? report::grouped(r.params) : "", r.macs ? report::grouped(r.macs) : ""};
    if (sparsity)
      cells.push_back(r.weights ? report::fixed(100.0 * static_cast<double>(r.zeros) / static_cast<double>(r.weights), 1) : "");
    if (quant) cells.push_back(escape(r.quant));
    if (surgery) {
      auto it = replaced.find(r.name);
      cells.push_back(it == replaced.end() ? "" : escape("replaced (" + it->second + ")"));
    }
    t.rows.push_back(std::move(cells));
  }
  return t.render();
}

const char* kStyle = R"(body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}h3{font-size:15px;margin:18px 0 6px}
.meta{color:#555}table{border-collapse:collapse;margin:6px 0}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f6}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}table.layers{font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:12px}svg.chart{border:1px solid #eee;background:#fff}
svg text{font:11px sans-serif;fill:#333}svg text.title{font-size:13px;font-weight:bold}svg text.legend{font-size:12px}
pre{background:#f6f8fa;padding:8px;overflow:auto;font-size:12px;max-height:480px}.warn{color:#a33}details{margin:6px 0}
)";

}  // namespace

std::string renderRunReport(const std::string& run_dir) {
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

  const std::string name = manifest.is_object() && manifest.contains("recipe") && manifest["recipe"].is_object()
                               ? manifest["recipe"].value("name", "") : "";
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                     "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src "
                     "'unsafe-inline'; img-src data:\">\n";
  if (done < static_cast<int>(stages.size())) html += "<meta http-equiv=\"refresh\" content=\"60\">\n";
  html += "<title>EdgeOpt run report: " + escape(name.empty() ? fs::path(run_dir).filename().string() : name) +
          "</title>\n<style>" + kStyle + "</style></head>\n<body>\n";
  html += "<h1>EdgeOpt run report: " + escape(name) + "</h1>\n<p class=\"meta\">" +
          escape(fs::absolute(dir).lexically_normal().string()) + " &middot; " + std::to_string(done) + " of " +
          std::to_string(stages.size()) + " stages done &middot; written " + escape(nowText()) + "</p>\n";
  for (const auto& p : problems) html += "<p class=\"warn\">" + escape(p) + "</p>\n";

  // Stages: status, params/MACs after each, the final metrics of each.
  std::vector<std::string> metric_keys;
  for (const auto& s : stages)
    for (const auto& row : s.rows)
      for (const auto& item : row.items())
        if (isMetricKey(item.key()) && std::find(metric_keys.begin(), metric_keys.end(), item.key()) == metric_keys.end())
          metric_keys.push_back(item.key());
  report::Table st;
  st.cssClass = "stages";
  st.header = {"#", "stage", "status", "params", "MACs", "epochs"};
  st.numeric = {0, 3, 4, 5};
  for (const auto& k : metric_keys) st.numeric.push_back(st.header.size()), st.header.push_back(k);
  for (const auto& s : stages) {
    std::vector<std::string> cells = {std::to_string(s.index), escape(s.kind), escape(s.status), "", "", ""};
    if (!s.checkpoint.empty()) {
      const ModelInfo& info = analyzeCached(s.checkpoint);
      cells[3] = report::grouped(info.params);
      if (info.has_macs) cells[4] = report::grouped(info.macs);
    }
    int epochs = 0;
    for (const auto& row : s.rows) epochs += row.contains("epoch") ? 1 : 0;
    if (epochs) cells[5] = std::to_string(epochs);
    // The stage's result: its last row that has validation metrics.
    const ordered_json* last = nullptr;
    for (const auto& row : s.rows)
      for (const auto& item : row.items())
        if (isMetricKey(item.key())) last = &row;
    for (const auto& k : metric_keys)
      cells.push_back(last && last->contains(k) ? metricText(k, (*last)[k]) : "");
    st.rows.push_back(std::move(cells));
  }
  html += "<h2>Stages</h2>\n<p>Params and MACs of the model after each stage; the metrics of each stage's last "
          "evaluation (top-1/top-5 in %).</p>\n" + st.render();

  // Charts per training stage.
  html += "<h2>Training</h2>\n";
  bool any_chart = false;
  for (const auto& s : stages) {
    std::vector<ordered_json> epochs;
    for (const auto& row : s.rows)
      if (row.contains("epoch")) epochs.push_back(row);
    if (epochs.empty()) continue;
    any_chart = true;
    html += "<h3 id=\"stage-" + std::to_string(s.index) + "\">Stage " + std::to_string(s.index) + ": " + escape(s.kind) +
            "</h3>\n<div class=\"charts\">\n";
    const auto loss = seriesOf(epochs, {"train_loss", "val_loss"});
    const auto acc = seriesOf(epochs, {"train_top1", "val_top1", "val_top5"});
    const auto map = seriesOf(epochs, {"val_map", "val_map50", "val_map75"});
    const auto lr = seriesOf(epochs, {"lr"});
    if (!loss.empty()) html += report::lineChart("loss", "epoch", loss);
    if (!acc.empty()) html += report::lineChart("accuracy (%)", "epoch", acc);
    if (!map.empty()) html += report::lineChart("mAP", "epoch", map);
    if (!lr.empty()) html += report::lineChart("learning rate", "epoch", lr);
    html += "</div>\n";
  }
  if (!any_chart) html += "<p>No training stage has finished an epoch yet.</p>\n";

  // Surgery.
  if (!surgeries.empty()) {
    html += "<h2>Surgery</h2>\n";
    for (const auto& [index, surgery] : surgeries) {
      const auto& j = surgery;  // a lambda may not capture a structured binding before C++20 (clang)
      html += "<h3>Stage " + std::to_string(index) + "</h3>\n";
      auto count = [&](const char* when, const char* what) -> std::string {
        return j.contains(when) && j[when].is_object() && j[when].contains(what) && j[when][what].is_number_integer()
                   ? report::grouped(j[when][what].get<int64_t>()) : "";
      };
      report::Table totals{{"", "params", "MACs"},
                           {{"before", count("before", "params"), count("before", "macs")},
                            {"after", count("after", "params"), count("after", "macs")}},
                           {1, 2}, "surgery-totals"};
      html += totals.render();
      report::Table t{{"rule", "count", "replaced layers"}, {}, {1}, "surgery"};
      if (j.contains("replacements") && j["replacements"].is_array())
        for (const auto& r : j["replacements"]) {
          std::vector<std::string> names;
          if (r.contains("nodes") && r["nodes"].is_array())
            for (const auto& n : r["nodes"]) names.push_back(escape(jsonText(n)));
          std::string joined;
          for (size_t i = 0; i < names.size(); ++i) joined += (i ? ", " : "") + names[i];
          t.rows.push_back({escape(r.value("rule", "?")), r.contains("count") ? escape(jsonText(r["count"])) : "", joined});
        }
      html += t.render();
    }
  }

  // Pruning: each prune stage's prune.json (settings, totals, channel groups, skipped layers).
  bool prune_heading = false;
  for (const auto& s : stages) {
    const std::string text = readOr((dir / "stages" / (std::to_string(s.index) + "-" + s.kind) / "prune.json").string());
    if (text.empty()) continue;
    ordered_json j;
    try {
      j = ordered_json::parse(text);
    } catch (const std::exception& e) {
      html += "<p class=\"warn\">" + escape("prune.json of stage " + std::to_string(s.index) + " is malformed: " + e.what()) + "</p>\n";
      continue;
    }
    if (!j.is_object()) continue;
    if (!prune_heading) html += "<h2>Pruning</h2>\n", prune_heading = true;
    html += "<h3>Stage " + std::to_string(s.index) + "</h3>\n";
    report::Table settings{{"setting", "value"}, {}, {}, "prune-settings"};
    for (const char* key : {"type", "ratio", "n", "m", "global", "parametrization", "importance", "physical"})
      if (j.contains(key)) settings.rows.push_back({key, escape(jsonText(j[key]))});
    auto beforeAfter = [&](const char* key, const char* label) {
      if (j.contains(key) && j[key].is_object() && j[key].contains("before") && j[key].contains("after"))
        settings.rows.push_back({label, escape(jsonText(j[key]["before"]) + " -> " + jsonText(j[key]["after"]))});
    };
    beforeAfter("params", "params");
    beforeAfter("channels", "channels");
    if (j.contains("total") && j["total"].is_object() && j["total"].contains("sparsity") && j["total"]["sparsity"].is_number())
      settings.rows.push_back({"sparsity of the pruned tensors", report::fixed(100.0 * j["total"]["sparsity"].get<double>(), 2) + " %"});
    html += settings.render();
    if (j.contains("groups") && j["groups"].is_array() && !j["groups"].empty()) {
      report::Table groups{{"channel group (producers)", "channels", "kept"}, {}, {1, 2}, "prune-groups"};
      for (const auto& g : j["groups"]) {
        std::string names;
        if (g.contains("producers") && g["producers"].is_array())
          for (const auto& n : g["producers"]) names += (names.empty() ? "" : ", ") + escape(jsonText(n));
        groups.rows.push_back({names, g.contains("channels") ? escape(jsonText(g["channels"])) : "",
                               g.contains("kept") ? escape(jsonText(g["kept"])) : ""});
      }
      html += groups.render();
    }
    if (j.contains("skipped") && j["skipped"].is_array() && !j["skipped"].empty()) {
      report::Table skipped{{"skipped", "reason"}, {}, {}, "prune-skipped"};
      for (const auto& k : j["skipped"]) {
        std::string what = k.contains("layer") ? jsonText(k["layer"]) : "";
        if (what.empty() && k.contains("producers") && k["producers"].is_array())
          for (const auto& n : k["producers"]) what += (what.empty() ? "" : ", ") + jsonText(n);
        skipped.rows.push_back({escape(what), escape(k.value("reason", ""))});
      }
      html += skipped.render();
    }
  }

  // Per-layer tables: the final model open, each earlier distinct model folded.
  html += "<h2>Layers</h2>\n";
  const StageInfo* last_done = nullptr;
  for (const auto& s : stages)
    if (!s.checkpoint.empty()) last_done = &s;
  if (!last_done) html += "<p>No stage has finished yet.</p>\n";
  std::string previous_key;
  for (const auto& s : stages) {
    if (s.checkpoint.empty()) continue;
    const ModelInfo& info = analyzeCached(s.checkpoint);
    const std::string key = std::to_string(info.params) + ":" + std::to_string(info.macs) + ":" +
                            std::to_string(info.calls) + ":" + std::to_string(info.zeros) + ":" +
                            std::to_string(info.quantizers);
    const bool final = &s == last_done;
    if (key == previous_key && !final) continue;
    previous_key = key;
    std::string head = "after stage " + std::to_string(s.index) + " (" + s.kind + "): " + report::grouped(info.params) +
                       " params";
    if (info.has_macs) head += ", " + report::grouped(info.macs) + " MACs at " + info.input_shape;
    if (info.weights && info.zeros)
      head += ", weight sparsity " +
              report::fixed(100.0 * static_cast<double>(info.zeros) / static_cast<double>(info.weights), 2) + " %";
    if (info.quantizers) head += ", " + std::to_string(info.quantizers) + " quantizers";
    std::string body = info.error.empty() ? "" : "<p class=\"warn\">" + escape(info.error) + "</p>\n";
    body += layerTable(info, replaced);
    if (final) html += "<h3 id=\"layers-final\">Final model, " + escape(head) + "</h3>\n" + body;
    else html += "<details><summary>Model " + escape(head) + "</summary>\n" + body + "</details>\n";
  }

  // Exports.
  report::Table ex{{"file", "bytes"}, {}, {1}, "exports"};
  for (auto it = fs::directory_iterator(dir / "exports", ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec) && !isLeftoverTemporary(it->path().filename().string()))
      ex.rows.push_back({escape(it->path().filename().string()), report::grouped(static_cast<int64_t>(it->file_size(ec)))});
  std::sort(ex.rows.begin(), ex.rows.end());
  if (!ex.rows.empty()) html += "<h2>Exports</h2>\n" + ex.render();

  // Manifest and recipe.
  html += "<h2>Manifest</h2>\n";
  if (manifest.is_object()) {
    report::Table mt{{"key", "value"}, {}, {}, "manifest"};
    auto add = [&](const std::string& key, const ordered_json* v) {
      if (v) mt.rows.push_back({escape(key), escape(jsonText(*v))});
    };
    auto at = [&](const ordered_json& j, std::initializer_list<const char*> path) -> const ordered_json* {
      const ordered_json* cur = &j;
      for (const char* k : path) {
        if (!cur->is_object() || !cur->contains(k)) return nullptr;
        cur = &(*cur)[k];
      }
      return cur;
    };
    add("EdgeOpt", at(manifest, {"edgeopt", "version"}));
    add("git commit", at(manifest, {"edgeopt", "git_commit"}));
    add("LibTorch", at(manifest, {"libtorch", "version"}));
    add("recipe", at(manifest, {"recipe", "path"}));
    add("command line", at(manifest, {"command_line"}));
    add("seed", at(manifest, {"seed"}));
    add("deterministic", at(manifest, {"deterministic"}));
    add("threads", at(manifest, {"threads"}));
    add("world size", at(manifest, {"world_size"}));
    add("data", at(manifest, {"data", "dataset"}));
    add("data fingerprint", at(manifest, {"data", "fingerprint"}));
    add("host", at(manifest, {"host", "hostname"}));
    add("cpu", at(manifest, {"host", "cpu"}));
    add("started at", at(manifest, {"started_at"}));
    html += mt.render();
    if (manifest.contains("plugins") && manifest["plugins"].is_array()) {
      report::Table pt{{"plugin", "version", "sha256"}, {}, {}, "plugins"};
      for (const auto& p : manifest["plugins"])
        if (p.is_object())
          pt.rows.push_back({escape(p.value("name", "")), escape(p.value("version", "")), escape(p.value("sha256", ""))});
      html += pt.render();
    }
  }
  if (!manifest_text.empty())
    html += "<details><summary>manifest.json</summary><pre>" + escape(manifest_text) + "</pre></details>\n";
  if (!recipe_text.empty())
    html += "<details><summary>recipe.yaml</summary><pre>" + escape(recipe_text) + "</pre></details>\n";
  return html + "</body></html>\n";
}

std::string writeRunReport(const std::string& run_dir) {
  const std::string html = renderRunReport(run_dir);
  const std::string path = (fs::path(run_dir) / "report.html").string();
  atomicWrite(path, html);
  return path;
}

void refreshRunReport(const std::string& run_dir) noexcept {
  try {
    writeRunReport(run_dir);
  } catch (const std::exception& e) {
    spdlog::warn("report.html not updated (rebuild it with edgeopt-run --report {}): {}", run_dir, e.what());
  } catch (...) {
    spdlog::warn("report.html not updated (rebuild it with edgeopt-run --report {})", run_dir);
  }
}

}  // namespace edgeopt
