// The run report (report.html): a short recipe run writes it (also while the
// run is unfinished), headless Chromium loads it without console errors, its
// charts carry the run's numbers, a screenshot is not blank, and
// `edgeopt-run --report RUN_DIR` rebuilds it. The layer table of a model with
// zeros in its weights gets a sparsity column.
#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/builder.h>
#include <edgeopt/report.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "brightness_classes.h"
#include "cli_runner.h"
#include "run_metrics.h"

#include <cstdio>
#include <filesystem>
#include <regex>
#include <sstream>

namespace fs = std::filesystem;
using namespace edgeopt::test;

namespace {

const char* kRecipe = R"(version: 1
name: report
seed: 2
threads: 1
model: {source: zoo, name: simple_cnn, num_classes: 3, in_channels: 1, input_size: 12, width_mult: 0.5}
data:
  dataset: imagenet
  root: images
  channels: 1
  batch_size: 8
  workers: 1
  train_transforms: [{normalize: {mean: [0.3], std: [0.3]}}]
  val_transforms: [{normalize: {mean: [0.3], std: [0.3]}}]
stages:
  - kind: surgery
    replace:
      - {from: features.6, to: relu6}
  - kind: train
    epochs: 3
    lr: 0.2
  - kind: evaluate
  - kind: qat
    preset: WC8_AT8
    epochs: 1
    lr: 0.01
  - kind: evaluate
  - kind: export
    formats: [edgeopt]
)";

std::string plugins() {
  static const std::string path =
      builtinSubset("report", {"zoo", "surgery", "train", "quant", "export", "imagenet"});
  return path;
}

struct Browser {
  int code = -1;
  std::string out, err;
};

// Runs headless Chromium on `html` with `args` (--dump-dom, --screenshot=...);
// its own profile folder, so parallel tests do not share one.
Browser chromium(const std::string& html, const std::string& args, const std::string& work) {
  const std::string out = work + "/.chromium-out", err = work + "/.chromium-err";
  const std::string cmd = "timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run "
                          "--hide-scrollbars --enable-logging=stderr --v=0 --user-data-dir='" + work +
                          "/.chromium-profile' " + args + " 'file://" + fs::absolute(html).string() + "' > '" + out +
                          "' 2> '" + err + "'";
  const int status = std::system(cmd.c_str());
  Browser b;
  b.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  b.out = readText(out);
  b.err = readText(err);
  return b;
}

bool haveChromium() { return std::system("command -v chromium > /dev/null 2>&1") == 0; }

// The page's console messages (errors, CSP violations, failed loads) as Chromium logs them.
std::vector<std::string> consoleLines(const std::string& log) {
  std::vector<std::string> lines;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);)
    if (line.find(":CONSOLE") != std::string::npos) lines.push_back(line);
  return lines;
}

std::string exact(double v) { return nlohmann::json(v).dump(); }

std::string fmt4(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// data-values of the polyline data-series="name" in the chart after `anchor`.
std::string plotted(const std::string& dom, const std::string& anchor, const std::string& name) {
  const size_t from = dom.find(anchor);
  if (from == std::string::npos) return "<no " + anchor + ">";
  std::smatch m;
  const std::string rest = dom.substr(from);
  const std::regex re("<polyline[^>]*data-series=\"" + name + "\" data-values=\"([^\"]*)\"");
  return std::regex_search(rest, m, re) ? m[1].str() : "<no polyline " + name + ">";
}

}  // namespace

TEST_CASE("report.html: a short run's report loads in headless Chromium with its numbers", "[report]") {
  if (!haveChromium()) FAIL("chromium is not installed (scripts/setup.sh installs Debian's chromium)");
  const std::string dir = scratchDir("report-run");
  makeBrightnessClasses(dir + "/images", 3, 1);
  writeText(dir + "/r.yaml", kRecipe);

  // Killed in epoch 2 of training: the unfinished run already has its report.
  CliResult killed = runCli("r.yaml --output run", dir, plugins(), "EDGEOPT_FAULT_KILL=2:2");
  REQUIRE(killed.code == 128 + 9);
  const std::string partial = readText(dir + "/run/report.html");
  CHECK(partial.find("2 of 6 stages done") == std::string::npos);
  CHECK(partial.find("1 of 6 stages done") != std::string::npos);
  CHECK(partial.find("<td>in progress</td>") != std::string::npos);
  CHECK(partial.find("data-series=\"val_top1\"") != std::string::npos);  // epoch 1's row
  CHECK(partial.find("http-equiv=\"refresh\"") != std::string::npos);    // reloads while running

  CliResult r = runCli("--resume run", dir, plugins());
  INFO(r.err);
  REQUIRE(r.code == 0);
  const std::string run = dir + "/run";
  const std::string html = readText(run + "/report.html");
  REQUIRE(!html.empty());
  CHECK(html.find("6 of 6 stages done") != std::string::npos);
  CHECK(html.find("http-equiv=\"refresh\"") == std::string::npos);
  // Self-contained: no script, nothing fetched from elsewhere.
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("src=") == std::string::npos);
  CHECK(html.find("href=") == std::string::npos);
  for (const auto& entry : fs::directory_iterator(run))
    CHECK(entry.path().filename().string().find(".tmp") == std::string::npos);

  // Headless Chromium: no console message (a CSP violation, a failed load, ...).
  const Browser dom = chromium(run + "/report.html", "--dump-dom", dir);
  REQUIRE(dom.code == 0);
  INFO(dom.err);
  CHECK(consoleLines(dom.err).empty());
  CHECK(dom.out.find("<svg") != std::string::npos);

  // The charts hold the run's numbers: train (stage 1) per epoch and QAT (stage 3).
  const auto rows = metricsRows(run);
  std::vector<nlohmann::json> train, qat, evals;
  for (const auto& row : rows) {
    if (row["kind"] == "train") train.push_back(row);
    if (row["kind"] == "qat") qat.push_back(row);
    if (row["kind"] == "evaluate") evals.push_back(row);
  }
  REQUIRE(train.size() == 3);
  REQUIRE(qat.size() == 1);
  REQUIRE(evals.size() == 2);
  for (const char* key : {"train_loss", "val_loss", "train_top1", "val_top1", "val_top5", "lr"}) {
    std::string values;
    for (const auto& row : train) values += (values.empty() ? "" : " ") + exact(row[key].get<double>());
    CHECK(plotted(dom.out, "id=\"stage-1\"", key) == values);
    CHECK(plotted(dom.out, "id=\"stage-3\"", key) == exact(qat[0][key].get<double>()));
    CHECK(dom.out.find(std::string(key) + " (last " + fmt4(train.back()[key].get<double>()) + ")") != std::string::npos);
  }
  // Three points a polyline for the three epochs.
  const std::regex three_points("<polyline[^>]*points=\"[0-9.]+,[0-9.]+ [0-9.]+,[0-9.]+ [0-9.]+,[0-9.]+\"");
  CHECK(std::regex_search(dom.out, three_points));

  // The stages table: each evaluate's top-1 (2 decimals), params after each stage.
  for (const auto& row : evals) {
    char top1[32];
    std::snprintf(top1, sizeof top1, "%.2f", row["val_top1"].get<double>());
    CHECK(dom.out.find(std::string("<td class=\"num\">") + top1 + "</td>") != std::string::npos);
  }
  CHECK(dom.out.find("<td>surgery</td><td>done</td>") != std::string::npos);
  // Surgery: the relu6 rule's layer is marked in the layer tables.
  CHECK(dom.out.find("features.6") != std::string::npos);
  CHECK(dom.out.find("replaced (") != std::string::npos);
  // The QAT model's quantizers: scale and zero point per layer.
  CHECK(dom.out.find("<th>quantization</th>") != std::string::npos);
  CHECK(std::regex_search(dom.out, std::regex("weights int8 sym per-channel \\(\\d+\\) scale [0-9.e-]+")));
  CHECK(std::regex_search(dom.out, std::regex("uint8 scale [0-9.e-]+ zp \\d+ range \\[")));
  // The manifest.
  const auto manifest = nlohmann::json::parse(readText(run + "/manifest.json"));
  CHECK(dom.out.find("<td>seed</td><td>2</td>") != std::string::npos);
  CHECK(dom.out.find(manifest["data"]["fingerprint"].get<std::string>()) != std::string::npos);

  // A screenshot that is not one colour.
  const std::string png = dir + "/shot.png";
  const Browser shot = chromium(run + "/report.html", "--window-size=1200,1600 --screenshot='" + png + "'", dir);
  REQUIRE(shot.code == 0);
  CHECK(consoleLines(shot.err).empty());
  const cv::Mat image = cv::imread(png, cv::IMREAD_COLOR);
  REQUIRE(!image.empty());
  CHECK(image.cols == 1200);
  CHECK(image.rows == 1600);
  cv::Scalar mean, stddev;
  cv::meanStdDev(image, mean, stddev);
  double lo = 0, hi = 0;
  cv::Mat gray;
  cv::extractChannel(image, gray, 0);
  cv::minMaxLoc(gray, &lo, &hi);
  CHECK(hi - lo > 100);  // text and lines on a white page
  CHECK(stddev[0] > 5);
  // Colour (the charts' lines), not only gray text.
  int colored = 0;
  for (int y = 0; y < image.rows; ++y)
    for (int x = 0; x < image.cols; ++x) {
      const auto& p = image.at<cv::Vec3b>(y, x);
      colored += std::max({p[0], p[1], p[2]}) - std::min({p[0], p[1], p[2]}) > 80;
    }
  CHECK(colored > 200);

  // --report rebuilds it.
  fs::remove(run + "/report.html");
  CliResult rebuilt = runCli("--report run", dir, plugins());
  INFO(rebuilt.err);
  CHECK(rebuilt.code == 0);
  CHECK(rebuilt.out == "run/report.html\n");
  CHECK(readText(run + "/report.html").find("6 of 6 stages done") != std::string::npos);
  CliResult bad = runCli("--report images", dir, plugins());
  CHECK(bad.code == 2);
  CHECK(bad.lastErrLine() == "error: --report images: not a run directory (state.json missing)");
  CliResult both = runCli("r.yaml --report run", dir, plugins());
  CHECK(both.code == 2);
  CHECK(both.lastErrLine().rfind("error: --report RUN_DIR rebuilds a run's report; it takes no recipe", 0) == 0);
}

TEST_CASE("report.html: the console check sees a page that loads from elsewhere", "[report]") {
  if (!haveChromium()) FAIL("chromium is not installed (scripts/setup.sh installs Debian's chromium)");
  const std::string dir = scratchDir("report-console");
  // The report's own policy: nothing may be fetched, so this load is refused and logged.
  writeText(dir + "/page.html",
            "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\">"
            "</head><body><img src=\"http://127.0.0.1:9/x.png\"></body></html>");
  const Browser b = chromium(dir + "/page.html", "--dump-dom", dir);
  REQUIRE(b.code == 0);
  REQUIRE(consoleLines(b.err).size() == 1);
  CHECK(consoleLines(b.err)[0].find("Content Security Policy") != std::string::npos);
}

TEST_CASE("report.html: layer tables show sparsity when weights have zeros, prune.json its pruning", "[report]") {
  const std::string dir = scratchDir("report-sparsity");
  edgeopt::ir::ModelBuilder b;
  auto* x = b.input("x");
  x = b.conv2d("conv", x, edgeopt::ir::Conv2dOptions(1, 4, 3).padding(1).bias(false));
  b.output({x});
  auto model = b.finish();
  model->setExampleInputShapes({{1, 1, 8, 8}});
  at::Tensor w = model->tensor("conv.weight").clone();
  w.index_put_({at::indexing::Slice(0, 3)}, 0);  // 3 of 4 output channels zero
  model->setTensor("conv.weight", w);
  model->save(dir + "/run/checkpoints/stage-0-prune.edgeopt");
  writeText(dir + "/run/state.json", R"({"completed_stages": 1, "metrics": [{"stage": 0, "kind": "prune", "val_top1": 12.5}]})");
  writeText(dir + "/run/recipe.yaml", "stages:\n  - kind: prune\n  - kind: export\n");
  writeText(dir + "/run/stages/0-prune/prune.json",
            R"({"type": "channel", "ratio": 0.75, "params": {"before": 36, "after": 9},
                "groups": [{"producers": ["conv"], "channels": 4, "kept": 1}],
                "skipped": [{"producers": ["head"], "reason": "graph output"}]})");
  const std::string html = edgeopt::renderRunReport(dir + "/run");
  CHECK(html.find("<h2>Pruning</h2>") != std::string::npos);
  CHECK(html.find("<tr><td>params</td><td>36 -&gt; 9</td></tr>") != std::string::npos);
  CHECK(html.find("<tr><td>conv</td><td class=\"num\">4</td><td class=\"num\">1</td></tr>") != std::string::npos);
  CHECK(html.find("<tr><td>head</td><td>graph output</td></tr>") != std::string::npos);
  CHECK(html.find("<th class=\"num\">sparsity %</th>") != std::string::npos);
  CHECK(html.find("<td class=\"num\">75.0</td>") != std::string::npos);
  CHECK(html.find("weight sparsity 75.00 %") != std::string::npos);
  CHECK(html.find("<td class=\"num\">12.50</td>") != std::string::npos);
  CHECK(html.find("1 of 2 stages done") != std::string::npos);
  CHECK(html.find("<td>export</td><td>pending</td>") != std::string::npos);
  CHECK(html.find("<td class=\"num\">36</td><td class=\"num\">2,304</td>") != std::string::npos);  // params, MACs
  // Not a run directory.
  CHECK_THROWS_AS(edgeopt::renderRunReport(dir), edgeopt::InputError);
}
