// edgeopt-run: runs an EdgeOpt recipe. Exit codes: see ExitCode in error.h
// and README.md.
#include <edgeopt/distributed.h>
#include <edgeopt/error.h>
#include <edgeopt/interrupt.h>
#include <edgeopt/onnxruntime_eval.h>
#include <edgeopt/ir/graph.h>
#include <edgeopt/plugin.h>
#include <edgeopt/plugin_host.h>
#include <edgeopt/report.h>
#include <edgeopt/reproduce.h>
#include <edgeopt/runner.h>
#include <edgeopt/runtime.h>
#include <edgeopt/tool_main.h>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

void listPlugins(const edgeopt::PluginHost& host) {
  for (const auto& p : host.plugins()) {
    std::cout << p.name << " " << p.version << " (plugin API " << p.api_version << ") " << p.path << "\n";
    if (!p.description.empty()) std::cout << "  " << p.description << "\n";
    for (const auto& [kind, name] : p.provides) std::cout << "  " << edgeopt::toString(kind) << ": " << name << "\n";
  }
}

// "rank 1: " in a distributed run's ranks other than 0, whose output shares
// the terminal with rank 0's.
std::string rankPrefix() {
  const int rank = edgeopt::dist::rank();
  return rank > 0 ? "rank " + std::to_string(rank) + ": " : "";
}

// The command line a local rank runs: this one without --nproc.
std::vector<std::string> withoutNproc(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--nproc") ++i;
    else if (a.rfind("--nproc=", 0) != 0) args.push_back(a);
  }
  return args;
}

// Joins the other ranks when a launcher (torchrun-style variables, or
// --nproc) started this process as one of several.
void joinDistributedRun() {
  const auto launch = edgeopt::dist::LaunchInfo::fromEnvironment();
  if (!launch || launch->world_size == 1) return;
  edgeopt::dist::setWorld(edgeopt::dist::ProcessGroup::connect(*launch, edgeopt::dist::timeoutFromEnvironment()));
  if (launch->rank > 0)
    spdlog::default_logger()->set_pattern("[%H:%M:%S] rank " + std::to_string(launch->rank) + " %^%l%$ %v");
}

}  // namespace

int main(int argc, char** argv) {
  edgeopt::usePassiveOpenMPWait(argv);
  edgeopt::tuneMalloc();
  edgeopt::ignoreFileSizeSignal();
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("edgeopt", console);
  logger->set_pattern("[%H:%M:%S] %^%l%$ %v");
  spdlog::set_default_logger(logger);

  CLI::App app{"edgeopt-run: run an EdgeOpt recipe (model surgery, pruning, quantization, export)"};
  edgeopt::RunRequest request;
  bool dry_run = false, list_plugins = false, show_version = false;
  int64_t seed = -1;
  int threads = -1, nproc = 1;
  std::string log_level = "info";
  std::string report_dir;
  edgeopt::OnnxRuntimeEval ort;
  double tolerance = 1e-5;
  app.add_option("recipe", request.recipe_path, "recipe file (YAML)");
  app.add_flag("--version", show_version, "print versions and exit");
  app.add_flag("--list-plugins", list_plugins, "print the loaded plugins and what each provides");
  app.add_flag("--dry-run", dry_run, "validate the recipe, resolve layer selectors, print the plan; write nothing");
  app.add_option("--set", request.sets, "override a recipe value: PATH=VALUE (stages.1.epochs=3, vars.lr=0.1)")
      ->type_name("PATH=VALUE");
  app.add_option("--input-shape", request.input_shape,
                 "N,C,H,W: the model source's input_shape (TorchScript, ONNX), over the recipe's")
      ->expected(4)
      ->delimiter(',');
  app.add_option("-o,--output", request.output_dir, "run directory to create (default runs/<name>-<time>)");
  app.add_option("--resume", request.resume_dir, "continue the run in RUN_DIR after its last finished step")
      ->type_name("RUN_DIR");
  app.add_option("--report", report_dir, "rebuild RUN_DIR/report.html from the run directory and exit")
      ->type_name("RUN_DIR");
  app.add_option("--reproduce", request.reproduce_dir,
                 "run RUN_DIR's recorded recipe, seed and threads again into a new run directory and compare "
                 "metrics, exports and checkpoints (exit 6 when they differ)")
      ->type_name("RUN_DIR");
  app.add_option(
         "--onnxruntime", ort.run_dir,
         "score an ONNX export of the finished run RUN_DIR in ONNX Runtime (Node.js onnxruntime-node) on "
         "the run's val split, with the run's task metrics; recorded in RUN_DIR/onnxruntime.json and the report")
      ->type_name("RUN_DIR");
  app.add_option("--export", ort.export_name,
                 "--onnxruntime: the file in RUN_DIR/exports (default model.qdq.onnx, else the one .onnx there)")
      ->type_name("FILE");
  app.add_option("--tolerance", tolerance,
                 "--reproduce: relative difference still counted as the same (default 1e-5)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--threads", threads, "intra-op threads (overrides the recipe; 0 = all cores)")
      ->check(CLI::Range(0, 4096));
  app.add_option("--nproc", nproc,
                 "data parallel: run N local ranks (sets RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT for each, "
                 "as torchrun does; each rank gets cores/N threads unless --threads or the recipe says)")
      ->check(CLI::Range(1, 1024));
  app.add_option("--seed", seed, "random seed (overrides the recipe)")->check(CLI::NonNegativeNumber);
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return edgeopt::reportError(edgeopt::UsageError(std::string(e.what()) + " (see edgeopt-run --help)"), rankPrefix());
  }
  for (int64_t d : request.input_shape)
    if (d < 1)
      return edgeopt::reportError(edgeopt::UsageError("--input-shape: every size must be at least 1, got " +
                                                      edgeopt::ir::formatShape(request.input_shape)),
                                  rankPrefix());
  // --log-level filters the terminal; the run's log.txt keeps info and above
  // (or more, when a lower level is asked for).
  const auto level = spdlog::level::from_str(log_level);
  console->set_level(level);
  logger->set_level(std::min(level, spdlog::level::info));
  for (int i = 0; i < argc; ++i) request.command_line += (i ? " " : "") + std::string(argv[i]);
  // A run (one rank of it, with --nproc) takes Ctrl-C as a request from the
  // start: a rank still loading plugins when the terminal's Ctrl-C comes must
  // not die of it while the others stop cleanly. (--nproc's launcher forwards.)
  if (!show_version && !list_plugins && !dry_run && nproc == 1) edgeopt::installInterruptHandler();

  try {
    if (show_version) {
      std::cout << edgeopt::versionText() << std::endl;
      return 0;
    }
    edgeopt::PluginHost host;
    host.loadDefaults();
    if (list_plugins) {
      listPlugins(host);
      return 0;
    }
    if (!report_dir.empty()) {
      if (!request.recipe_path.empty() || !request.resume_dir.empty() || !request.sets.empty() || dry_run)
        throw edgeopt::UsageError("--report RUN_DIR rebuilds a run's report; it takes no recipe, --resume, --set "
                                  "or --dry-run");
      std::error_code ec;
      if (!std::filesystem::is_regular_file(std::filesystem::path(report_dir) / "state.json", ec))
        throw edgeopt::UsageError("--report " + report_dir + ": not a run directory (state.json missing)");
      std::cout << edgeopt::writeRunReport(report_dir) << std::endl;
      return 0;
    }
    if (!ort.run_dir.empty()) {
      if (!request.recipe_path.empty() || !request.resume_dir.empty() || !request.reproduce_dir.empty() ||
          !request.sets.empty() || dry_run || !report_dir.empty())
        throw edgeopt::UsageError(
            "--onnxruntime RUN_DIR scores that run's export; it takes no recipe, --resume, "
            "--reproduce, --report, --set or --dry-run");
      // Node.js and npm onnxruntime-node as scripts/setup.sh installs them
      // (the environment names others).
      if (const char* node = std::getenv("EDGEOPT_NODE")) ort.node = node;
      const char* modules = std::getenv("EDGEOPT_ORT_NODE_MODULES");
      ort.node_modules = modules ? modules : EDGEOPT_ORT_NODE_MODULES_DEFAULT;
      ort.script = EDGEOPT_ORT_SCRIPT;
      if (threads >= 0) ort.threads = threads;
      std::cout << edgeopt::scoreInOnnxRuntime(host, ort) << std::endl;
      return 0;
    }
    if (!ort.export_name.empty()) throw edgeopt::UsageError("--export goes with --onnxruntime RUN_DIR");
    if (!request.reproduce_dir.empty()) {
      if (!request.recipe_path.empty() || !request.resume_dir.empty() || dry_run || !request.input_shape.empty())
        throw edgeopt::UsageError("--reproduce RUN_DIR runs that run's recorded recipe; it takes no recipe, "
                                  "--resume, --dry-run or --input-shape");
      edgeopt::checkFinishedRun(request.reproduce_dir, "--reproduce");
      const auto recorded = edgeopt::reproduceSets(request.reproduce_dir);
      request.sets.insert(request.sets.begin(), recorded.begin(), recorded.end());
    } else if (request.recipe_path.empty() == request.resume_dir.empty())
      throw edgeopt::UsageError(request.resume_dir.empty() ? "no recipe given (edgeopt-run RECIPE.yaml; see --help)"
                                                           : "give either a recipe or --resume RUN_DIR, not both");
    if (!request.resume_dir.empty() && (!request.sets.empty() || seed >= 0 || threads >= 0 || dry_run ||
                                        !request.output_dir.empty() || !request.input_shape.empty()))
      throw edgeopt::UsageError("--resume continues a run exactly as recorded; it takes no --set, --seed, "
                                "--threads, --input-shape, --output or --dry-run");
    if (seed >= 0) request.sets.push_back("seed=" + std::to_string(seed));
    if (threads >= 0) request.sets.push_back("threads=" + std::to_string(threads));
    edgeopt::Runner runner(host, request);
    if (dry_run) {
      runner.dryRun(std::cout);
      return 0;
    }
    if (nproc > 1) {
      if (std::getenv("WORLD_SIZE"))
        throw edgeopt::UsageError("--nproc starts its own ranks; unset WORLD_SIZE/RANK (or launch without --nproc)");
      return edgeopt::dist::runLocalRanks(nproc, withoutNproc(argc, argv));
    }
    joinDistributedRun();
    const std::string run_dir = runner.run();
    if (!edgeopt::dist::isMainProcess()) return 0;
    std::cout << run_dir << std::endl;
    if (request.reproduce_dir.empty()) return 0;
    const auto result = edgeopt::compareRuns(request.reproduce_dir, run_dir, tolerance);
    std::cout << result.text() << std::flush;
    return result.verdict == edgeopt::Reproduction::Verdict::Different ? static_cast<int>(edgeopt::ExitCode::Different)
                                                                       : 0;
  } catch (const std::exception& e) {
    return edgeopt::reportError(e, rankPrefix());
  }
}
