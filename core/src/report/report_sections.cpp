// The sections of the run report's page (run_report_parts.h), in page order.
#include <edgeopt/fileutil.h>

#include "run_report_parts.h"

#include <algorithm>
#include <filesystem>

namespace fs = std::filesystem;

namespace edgeopt::report {

std::string stagesSection(const RunRecord& run) {
  const auto& stages = run.stages;
  std::string html;
  // Stages: status, params/MACs after each, the final metrics of each.
  std::vector<std::string> metric_keys;
  for (const auto& s : stages)
    for (const auto& row : s.rows)
      for (const auto& item : row.items())
        if (isMetricKey(item.key()) && std::find(metric_keys.begin(), metric_keys.end(), item.key()) == metric_keys.end())
          metric_keys.push_back(item.key());
  for (const auto& row : run.onnxruntime)
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
  // Exports scored in ONNX Runtime: the same metrics, from the exported file.
  for (const auto& row : run.onnxruntime) {
    std::vector<std::string> cells = {
        "", "onnxruntime: " + escape(row.value("export", "?")), escape(row.value("runtime", "")), "", "", ""};
    for (const auto& k : metric_keys) cells.push_back(row.contains(k) ? metricText(k, row[k]) : "");
    st.rows.push_back(std::move(cells));
  }
  const std::string ort_note = run.onnxruntime.empty() ? ""
                               : "; onnxruntime rows: an export run in ONNX Runtime on the val split "
                                 "(edgeopt-run --onnxruntime)";
  html += "<h2>Stages</h2>\n<p>Params and MACs of the model after each stage; the metrics of each stage's last "
          "evaluation (top-1/top-5 in %)" + ort_note + ".</p>\n" + st.render();

  return html;
}

std::string trainingSection(const RunRecord& run) {
  const auto& stages = run.stages;
  std::string html;
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

  return html;
}

std::string surgerySection(const RunRecord& run) {
  const auto& surgeries = run.surgeries;
  std::string html;
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

  return html;
}

std::string pruningSection(const RunRecord& run) {
  const fs::path& dir = run.dir;
  const auto& stages = run.stages;
  std::string html;
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

  return html;
}

std::string layersSection(const RunRecord& run) {
  const auto& stages = run.stages;
  const auto& replaced = run.replaced;
  std::string html;
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

  return html;
}

std::string exportsSection(const RunRecord& run) {
  const fs::path& dir = run.dir;
  std::error_code ec;
  std::string html;
  // Exports.
  report::Table ex{{"file", "bytes"}, {}, {1}, "exports"};
  for (auto it = fs::directory_iterator(dir / "exports", ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec) && !isLeftoverTemporary(it->path().filename().string()))
      ex.rows.push_back({escape(it->path().filename().string()), report::grouped(static_cast<int64_t>(it->file_size(ec)))});
  std::sort(ex.rows.begin(), ex.rows.end());
  if (!ex.rows.empty()) html += "<h2>Exports</h2>\n" + ex.render();

  return html;
}

std::string manifestSection(const RunRecord& run) {
  const ordered_json& manifest = run.manifest;
  const std::string& manifest_text = run.manifest_text;
  const std::string& recipe_text = run.recipe_text;
  std::string html;
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
  return html;
}

}  // namespace edgeopt::report
