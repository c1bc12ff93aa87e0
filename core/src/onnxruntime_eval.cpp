// A run's ONNX export scored in ONNX Runtime (see edgeopt/onnxruntime_eval.h).
#include <edgeopt/data_loader.h>
#include <edgeopt/dataset.h>
#include <edgeopt/error.h>
#include <edgeopt/fileutil.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/line_process.h>
#include <edgeopt/onnxruntime_eval.h>
#include <edgeopt/plugin_host.h>
#include <edgeopt/recipe.h>
#include <edgeopt/registry.h>
#include <edgeopt/report.h>
#include <edgeopt/reproduce.h>
#include <edgeopt/runtime.h>
#include <edgeopt/train_task.h>

#include "run_directory.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace edgeopt {
namespace {

using nlohmann::ordered_json;

// `name` as the shell would find it: a path as given, else the first match on PATH.
std::string findExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return "";
}

std::string lastLineOf(const std::string& file) {
  std::string text = readFile(file), last;
  std::stringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) last = line;
  return last;
}

// The Node.js process running ort_outputs.js: one command line in, one
// answer line out. Its stderr goes to a file whose last line explains a
// failure to start.
class OrtProcess {
 public:
  OrtProcess(const std::vector<std::string>& argv, const std::string& log) : log_(log), process_(argv, log) {
    const std::string& first = process_.firstLine();
    if (first.rfind("ready", 0) != 0) {
      process_.close();
      fail("did not start");
    }
    version_ = first.size() > 6 ? first.substr(6) : "?";
  }

  const std::string& version() const { return version_; }

  std::string ask(const std::string& command) {
    const std::string answer = process_.exchange(command);
    if (answer.empty()) fail("stopped");
    if (answer.rfind("error: ", 0) == 0) throw RuntimeFailure("ONNX Runtime: " + answer.substr(7));
    return answer;
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    const std::string why = lastLineOf(log_);
    throw RuntimeFailure("ONNX Runtime (Node.js) " + what + (why.empty() ? "" : ": " + why));
  }

  std::string log_;
  LineProcess process_;
  std::string version_;
};

// RUN_DIR/exports/<name>, or the default choice (see the header).
fs::path chooseExport(const fs::path& exports, const std::string& name) {
  std::error_code ec;
  if (!name.empty()) {
    const fs::path p = exports / name;
    if (!fs::is_regular_file(p, ec)) throw UsageError("--export " + name + ": no such file in " + exports.string());
    if (p.extension() != ".onnx") throw UsageError("--export " + name + ": not an ONNX file (.onnx)");
    return p;
  }
  if (fs::is_regular_file(exports / "model.qdq.onnx", ec)) return exports / "model.qdq.onnx";
  std::vector<std::string> found;
  for (auto it = fs::directory_iterator(exports, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->path().extension() == ".onnx") found.push_back(it->path().filename().string());
  std::sort(found.begin(), found.end());
  if (found.empty()) throw UsageError("--onnxruntime: " + exports.string() + " holds no .onnx export");
  if (found.size() > 1) {
    std::string list;
    for (const auto& f : found) list += (list.empty() ? "" : ", ") + f;
    throw UsageError("--onnxruntime: several ONNX exports (" + list + "); name one with --export");
  }
  return exports / found.front();
}

// The task the run scored with: the `task` option of its last stage that has one.
std::string runTask(const Recipe& recipe) {
  for (auto it = recipe.stages.rbegin(); it != recipe.stages.rend(); ++it)
    if (it->options.has("task")) return it->options.get<std::string>("task");
  return "classification";
}

// A scratch folder for the batch files, removed when scoring ends.
struct ScratchDir {
  fs::path path;
  ScratchDir() {
    std::string pattern = (fs::temp_directory_path() / "edgeopt-ort-XXXXXX").string();
    if (!mkdtemp(pattern.data()))
      throw RuntimeFailure("cannot create a temporary folder in " + fs::temp_directory_path().string());
    path = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string isoNow() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Adds `row` to RUN_DIR/onnxruntime.json, replacing an earlier row of the same export.
void recordRow(const fs::path& run_dir, const ordered_json& row) {
  const fs::path file = run_dir / "onnxruntime.json";
  ordered_json doc = {{"rows", ordered_json::array()}};
  std::error_code ec;
  if (fs::is_regular_file(file, ec)) {
    try {
      ordered_json old = ordered_json::parse(readFile(file.string()));
      if (old.is_object() && old.contains("rows") && old["rows"].is_array()) doc = std::move(old);
    } catch (const std::exception& e) {
      spdlog::warn("{}: malformed, rewritten: {}", file.string(), e.what());
    }
  }
  ordered_json rows = ordered_json::array();
  for (const auto& r : doc["rows"])
    if (!(r.is_object() && r.value("export", "") == row["export"].get<std::string>())) rows.push_back(r);
  rows.push_back(row);
  doc["rows"] = std::move(rows);
  atomicWrite(file.string(), doc.dump(2) + "\n");
}

}  // namespace

std::string scoreInOnnxRuntime(PluginHost& host, const OnnxRuntimeEval& request) {
  checkFinishedRun(request.run_dir, "--onnxruntime");
  const RunDirectory dir = RunDirectory::open(request.run_dir);
  const fs::path export_file = chooseExport(fs::path(request.run_dir) / "exports", request.export_name);

  // Node.js and onnxruntime-node before anything slow.
  const std::string node = findExecutable(request.node);
  if (node.empty())
    throw RuntimeFailure("--onnxruntime needs Node.js: '" + request.node +
                         "' not found (install nodejs, or run scripts/setup.sh; EDGEOPT_NODE names another)");
  std::error_code ec;
  if (!fs::is_directory(fs::path(request.node_modules) / "onnxruntime-node", ec))
    throw RuntimeFailure("--onnxruntime needs npm onnxruntime-node in " + request.node_modules +
                         " (scripts/setup.sh installs it; EDGEOPT_ORT_NODE_MODULES names another node_modules)");
  if (!fs::is_regular_file(request.script, ec))
    throw RuntimeFailure("--onnxruntime: " + request.script + " is missing");

  // The run's recipe, plugins and data as the run used them.
  Recipe recipe = loadRecipeDocument(dir.recipeFile(), {}, dir.recipeBaseDir());
  for (const auto& [plugin, loc] : recipe.plugins) host.load(plugin);
  validateComponents(recipe, host.registriesInUse());
  if (!recipe.data) throw UsageError("--onnxruntime: the run's recipe has no data: section to score on");
  configureRuntime(recipe.threads, recipe.seed, recipe.deterministic);
  const ComponentConfig& data = *recipe.data;
  std::shared_ptr<const Dataset> dataset(
      host.registriesInUse().of<Dataset>().find(data.kind)->factory.create(data.options));
  if (!dataset || dataset->size(Split::Val) == 0)
    throw RuntimeFailure("--onnxruntime: the run's dataset has no val split");

  // The final model, for what scoring reads besides the outputs (anchors).
  const int last = static_cast<int>(recipe.stages.size()) - 1;
  const auto model = GraphModule::load(dir.stageCheckpoint(last, recipe.stages.back().kind));
  TaskOptions task_options;
  task_options.task = runTask(recipe);
  const auto task = makeTrainTask(task_options);

  const int threads = effectiveThreads(request.threads > 0 ? request.threads : recipe.threads);
  ScratchDir scratch;
  const std::string in = (scratch.path / "in.f32").string(), out = (scratch.path / "out.f32").string();
  OrtProcess ort(
      {node, request.script, request.node_modules, fs::absolute(export_file).string(), std::to_string(threads)},
      (scratch.path / "node.log").string());
  spdlog::info("scoring {} in ONNX Runtime {} ({} threads, {} task) on {} val images", export_file.string(),
               ort.version(), threads, task->name(), dataset->size(Split::Val));

  const ForwardFn forward = [&](const at::Tensor& images) {
    const at::Tensor x = images.to(at::kFloat).contiguous();
    {
      std::ofstream f(in, std::ios::binary | std::ios::trunc);
      f.write(static_cast<const char*>(x.data_ptr()), static_cast<std::streamsize>(x.numel() * sizeof(float)));
      if (!f) throw RuntimeFailure("cannot write " + in);
    }
    std::string dims;
    for (int64_t d : x.sizes()) dims += (dims.empty() ? "" : ",") + std::to_string(d);
    std::stringstream answer(ort.ask(in + " " + dims + " " + out));
    std::string word;
    answer >> word;  // "ok"
    const std::string bytes = readFile(out);
    std::vector<at::Tensor> outputs;
    size_t offset = 0;
    while (answer >> word) {
      std::vector<int64_t> shape;
      std::stringstream parts(word);
      for (std::string p; std::getline(parts, p, 'x');) shape.push_back(std::stoll(p));
      at::Tensor t = at::empty(shape, at::kFloat);
      const size_t n = static_cast<size_t>(t.numel()) * sizeof(float);
      if (offset + n > bytes.size())
        throw RuntimeFailure("ONNX Runtime: " + out + " is shorter than its outputs' shapes");
      std::memcpy(t.data_ptr(), bytes.data() + offset, n);
      offset += n;
      outputs.push_back(std::move(t));
    }
    if (outputs.empty()) throw RuntimeFailure("ONNX Runtime returned no output");
    return outputs;
  };

  LoaderOptions options = loaderOptions(data.options, Split::Val, recipe.seed);
  auto loader = makeDataLoader(dataset, Split::Val, data.options, options);
  const auto started = std::chrono::steady_clock::now();
  const MetricRow scores = task->evaluateOutputs(*model, *loader, forward, request.max_batches);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  const std::string name = export_file.filename().string();
  ordered_json row = {{"export", name}};
  std::string text;
  for (const auto& [key, value] : scores) {
    row["val_" + key] = value;
    text += fmt::format("{}{} {:.4g}", text.empty() ? "" : ", ", key, value);
  }
  row["runtime"] = "onnxruntime-node " + ort.version();
  row["graph_optimization"] = "all";
  row["threads"] = threads;
  row["seconds"] = std::round(seconds * 10) / 10;
  row["measured"] = isoNow();
  recordRow(request.run_dir, row);
  refreshRunReport(request.run_dir);
  return name + " in ONNX Runtime " + ort.version() + ": " + text;
}

}  // namespace edgeopt
