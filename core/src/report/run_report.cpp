// The run report (see edgeopt/report.h): reads the run directory
// (run_record.cpp), renders one HTML page with inline SVG charts, section by
// section (report_sections.cpp).
#include <edgeopt/error.h>
#include <edgeopt/fileutil.h>
#include <edgeopt/report.h>

#include "run_report_parts.h"

#include <spdlog/spdlog.h>

#include <filesystem>

namespace fs = std::filesystem;

namespace edgeopt {
namespace {

using report::escape;

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
  const report::RunRecord run = report::readRun(run_dir);
  const fs::path& dir = run.dir;
  const auto& manifest = run.manifest;
  const auto& stages = run.stages;
  const int done = run.done;
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
          std::to_string(stages.size()) + " stages done &middot; written " + escape(report::nowText()) + "</p>\n";
  for (const auto& p : run.problems) html += "<p class=\"warn\">" + escape(p) + "</p>\n";

  html += report::stagesSection(run);
  html += report::trainingSection(run);
  html += report::surgerySection(run);
  html += report::pruningSection(run);
  html += report::sensitivitySection(run);
  html += report::layersSection(run);
  html += report::exportsSection(run);
  html += report::manifestSection(run);
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
