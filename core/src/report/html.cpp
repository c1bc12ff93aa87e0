#include "html.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace edgeopt::report {
namespace {

// Colour-blind-safe palette (Okabe-Ito).
const char* const kColors[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"};

// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `count` ticks over `range`.
double niceStep(double range, int count) {
  const double raw = range / count;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

std::string coord(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

}  // namespace

std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string shortNumber(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return shortNumber(v);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string exactNumber(double v) { return std::isfinite(v) ? nlohmann::json(v).dump() : shortNumber(v); }

std::string grouped(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

std::string human(double v) {
  const char* suffix = "";
  if (v >= 1e9) v /= 1e9, suffix = " G";
  else if (v >= 1e6) v /= 1e6, suffix = " M";
  else if (v >= 1e3) v /= 1e3, suffix = " K";
  return fixed(v, 2) + suffix;
}

std::string Table::render() const {
  auto isNumeric = [&](size_t i) { return std::find(numeric.begin(), numeric.end(), i) != numeric.end(); };
  std::string out = "<table" + (cssClass.empty() ? std::string() : " class=\"" + cssClass + "\"") + ">\n<thead><tr>";
  for (size_t i = 0; i < header.size(); ++i)
    out += std::string(isNumeric(i) ? "<th class=\"num\">" : "<th>") + escape(header[i]) + "</th>";
  out += "</tr></thead>\n<tbody>\n";
  for (const auto& row : rows) {
    out += "<tr>";
    for (size_t i = 0; i < row.size(); ++i) out += std::string(isNumeric(i) ? "<td class=\"num\">" : "<td>") + row[i] + "</td>";
    out += "</tr>\n";
  }
  return out + "</tbody></table>\n";
}

std::string lineChart(const std::string& title, const std::string& x_label, const std::vector<Series>& series) {
  const double width = 420, height = 250, left = 62, right = 12, top = 28, bottom = 40;
  const double legend_h = 8 + 16.0 * static_cast<double>(series.size());
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
    }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  bool integer_x = true;  // epochs: integer ticks only
  for (const auto& s : series)
    for (double x : s.x) integer_x = integer_x && (!std::isfinite(x) || std::floor(x) == x);
  if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
  if (y1 - y0 < 1e-12 * std::max(1.0, std::abs(y0))) {
    const double pad = std::max(std::abs(y0) * 0.1, 1e-6);
    y0 -= pad, y1 += pad;
  }
  const double y_step = niceStep(y1 - y0, 4);
  y0 = std::floor(y0 / y_step) * y_step, y1 = std::ceil(y1 / y_step) * y_step;
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * plot_w; };
  auto py = [&](double y) { return top + (y1 - y) / (y1 - y0) * plot_h; };

  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"" + coord(width) +
                    "\" height=\"" + coord(height + legend_h) + "\" viewBox=\"0 0 " + coord(width) + " " +
                    coord(height + legend_h) + "\" role=\"img\" aria-label=\"" + escape(title) + "\">\n";
  svg += "<text class=\"title\" x=\"" + coord(left) + "\" y=\"18\">" + escape(title) + "</text>\n";
  svg += "<rect x=\"" + coord(left) + "\" y=\"" + coord(top) + "\" width=\"" + coord(plot_w) + "\" height=\"" +
         coord(plot_h) + "\" fill=\"#fafafa\" stroke=\"#999\"/>\n";
  // y ticks and grid
  for (double y = y0; y <= y1 + y_step * 0.5; y += y_step) {
    const std::string yy = coord(py(y));
    svg += "<line x1=\"" + coord(left) + "\" x2=\"" + coord(left + plot_w) + "\" y1=\"" + yy + "\" y2=\"" + yy +
           "\" stroke=\"#e3e3e3\"/>";
    svg += "<text class=\"tick\" x=\"" + coord(left - 5) + "\" y=\"" + coord(py(y) + 4) +
           "\" text-anchor=\"end\">" + shortNumber(std::abs(y) < y_step * 1e-9 ? 0.0 : y) + "</text>\n";
  }
  // x ticks: integers when the x values are (epochs), else nice steps
  double x_step = niceStep(x1 - x0, 5);
  if (integer_x && x_step < 1) x_step = 1;
  for (double x = std::ceil(x0 / x_step) * x_step; x <= x1 + x_step * 1e-9; x += x_step) {
    const std::string xx = coord(px(x));
    svg += "<line x1=\"" + xx + "\" x2=\"" + xx + "\" y1=\"" + coord(top + plot_h) + "\" y2=\"" +
           coord(top + plot_h + 4) + "\" stroke=\"#999\"/>";
    svg += "<text class=\"tick\" x=\"" + xx + "\" y=\"" + coord(top + plot_h + 16) + "\" text-anchor=\"middle\">" +
           shortNumber(x) + "</text>\n";
  }
  svg += "<text class=\"axis\" x=\"" + coord(left + plot_w / 2) + "\" y=\"" + coord(top + plot_h + 32) +
         "\" text-anchor=\"middle\">" + escape(x_label) + "</text>\n";
  for (size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const std::string color = kColors[k % (sizeof kColors / sizeof kColors[0])];
    std::string points, values, markers;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      values += (i ? " " : "") + exactNumber(s.y[i]);
      if (!std::isfinite(s.y[i])) continue;
      const std::string p = coord(px(s.x[i])) + "," + coord(py(s.y[i]));
      points += (points.empty() ? "" : " ") + p;
      markers += "<circle cx=\"" + coord(px(s.x[i])) + "\" cy=\"" + coord(py(s.y[i])) + "\" r=\"3\" fill=\"" + color +
                 "\"><title>" + escape(s.name) + " at " + shortNumber(s.x[i]) + ": " + shortNumber(s.y[i]) +
                 "</title></circle>";
    }
    svg += "<polyline fill=\"none\" stroke=\"" + color + "\" stroke-width=\"2\" points=\"" + points +
           "\" data-series=\"" + escape(s.name) + "\" data-values=\"" + values + "\"/>\n" + markers + "\n";
    const double ly = height + 10 + 16.0 * static_cast<double>(k);
    svg += "<rect x=\"" + coord(left) + "\" y=\"" + coord(ly - 9) + "\" width=\"14\" height=\"4\" fill=\"" + color +
           "\"/><text class=\"legend\" x=\"" + coord(left + 20) + "\" y=\"" + coord(ly) + "\">" + escape(s.name) +
           (s.y.empty() ? std::string() : " (last " + shortNumber(s.y.back()) + ")") + "</text>\n";
  }
  return svg + "</svg>\n";
}

}  // namespace edgeopt::report
