#pragma once
// HTML and inline-SVG building blocks of the run report (private to the
// core): escaping, number formatting, tables and line charts. No scripts,
// no external resources: the page is one self-contained file.
#include <cstdint>
#include <string>
#include <vector>

namespace edgeopt::report {

// Escapes & < > " ' for text and attribute values.
std::string escape(const std::string& text);
// 4 significant digits ("0.01464", "66.67", "2.352e-05"): plot labels.
std::string shortNumber(double v);
// Fixed decimals ("66.67" with 2).
std::string fixed(double v, int decimals);
// The shortest text that reads back as the same double (as JSON writes it).
std::string exactNumber(double v);
// 3504872 -> "3,504,872".
std::string grouped(int64_t v);
// 3504872 -> "3.50 M".
std::string human(double v);

// A table: header cells, then rows of cells that are already HTML. Cells of
// the columns listed in `numeric` are right-aligned.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<size_t> numeric;
  std::string cssClass;
  std::string render() const;
};

// One line of a chart: (x, y) points in x order.
struct Series {
  std::string name;
  std::vector<double> x, y;
};

// An inline <svg> line chart: axes with ticks, one polyline plus point
// markers per series (each marker's <title> gives its value), a legend with
// each series' last value. Each polyline carries data-series (the name) and
// data-values (the y values, exactNumber, space-separated) so that tests and
// tools can read the plotted numbers back.
std::string lineChart(const std::string& title, const std::string& x_label, const std::vector<Series>& series);

}  // namespace edgeopt::report
