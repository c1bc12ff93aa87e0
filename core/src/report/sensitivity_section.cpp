// The report's "Quantization sensitivity" section: each sensitivity stage's
// sensitivity.json (plugins/quant/sensitivity_stage.cpp), most sensitive
// layer first.
#include "run_report_parts.h"

#include <filesystem>

namespace fs = std::filesystem;

namespace edgeopt::report {

namespace {

std::string number(const ordered_json& row, const char* key, int decimals) {
  return row.contains(key) && row[key].is_number() ? fixed(row[key].get<double>(), decimals) : "-";
}

}  // namespace

std::string sensitivitySection(const RunRecord& run) {
  std::string html;
  for (const auto& s : run.stages) {
    const fs::path file = run.dir / "stages" / (std::to_string(s.index) + "-" + s.kind) / "sensitivity.json";
    const std::string text = readOr(file.string());
    if (text.empty()) continue;
    ordered_json j;
    try {
      j = ordered_json::parse(text);
    } catch (const std::exception& e) {
      html += "<p class=\"warn\">" + escape(file.string() + " is malformed: " + e.what()) + "</p>\n";
      continue;
    }
    if (!j.is_object() || !j.contains("layers") || !j["layers"].is_array()) continue;
    if (html.empty()) html += "<h2>Quantization sensitivity</h2>\n";
    html += "<h3>Stage " + std::to_string(s.index) + "</h3>\n<p>" +
            escape("On " + jsonText(j.value("examples", ordered_json(0))) +
                   " validation images, against the float model (every quantizer off). All quantizers on: SQNR " +
                   number(j, "sqnr_db", 2) + " dB" +
                   (j.contains("top1_agreement") ? ", top-1 agreement " + number(j, "top1_agreement", 2) + " %" : "") +
                   ". \"Alone\": only this layer's quantizers on; \"all but\": every quantizer but this layer's. "
                   "Most sensitive first; an `overrides` entry with weight_bits/activation_bits 16 on the first "
                   "layers acts on it.") +
            "</p>\n";
    Table table{{"layer", "quantizers", "alone: SQNR dB", "alone: top-1 agree %", "all but: SQNR dB",
                 "all but: top-1 agree %"},
                {},
                {2, 3, 4, 5},
                "sensitivity"};
    for (const auto& row : j["layers"]) {
      if (!row.is_object()) continue;
      std::string quantizers;
      if (row.contains("quantizers") && row["quantizers"].is_array())
        for (const auto& q : row["quantizers"]) quantizers += (quantizers.empty() ? "" : ", ") + jsonText(q);
      table.rows.push_back({escape(row.contains("layer") ? jsonText(row["layer"]) : ""), escape(quantizers),
                            number(row, "only_sqnr_db", 2), number(row, "only_top1_agreement", 2),
                            number(row, "all_but_sqnr_db", 2), number(row, "all_but_top1_agreement", 2)});
    }
    html += table.render();
  }
  return html;
}

}  // namespace edgeopt::report
