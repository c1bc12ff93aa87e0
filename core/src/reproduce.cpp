#include <edgeopt/error.h>
#include <edgeopt/fileutil.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/reproduce.h>
#include <edgeopt/runtime.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

namespace fs = std::filesystem;
using nlohmann::json;

namespace edgeopt {
namespace {

json readJson(const std::string& path) {
  try {
    return json::parse(readFile(path));
  } catch (const json::exception& e) {
    throw InputError(path + ": malformed (" + e.what() + ")");
  }
}

// "stages done / stages in the recipe"; InputError when unreadable.
std::pair<int, int> progressOf(const std::string& dir) {
  const json state = readJson((fs::path(dir) / "state.json").string());
  int stages = 0;
  try {
    const YAML::Node recipe = YAML::LoadFile((fs::path(dir) / "recipe.yaml").string());
    stages = recipe["stages"] && recipe["stages"].IsSequence() ? static_cast<int>(recipe["stages"].size()) : 0;
  } catch (const std::exception& e) {
    throw InputError((fs::path(dir) / "recipe.yaml").string() + ": " + e.what());
  }
  return {state.value("completed_stages", 0), stages};
}

std::string text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::string shortHash(const std::string& h) { return h.size() > 12 ? h.substr(0, 12) : h; }

const json* at(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* k : path) {
    if (!cur->is_object() || !cur->contains(k)) return nullptr;
    cur = &(*cur)[k];
  }
  return cur;
}

// Relative paths of the files under dir/sub matching `keep`, sorted.
std::vector<std::string> filesUnder(const fs::path& dir, const std::string& sub, bool (*keep)(const fs::path&)) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir / sub, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_regular_file(ec) && !isLeftoverTemporary(it->path().filename().string()) && keep(it->path()))
      out.push_back(fs::relative(it->path(), dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

class Comparer {
 public:
  Comparer(double tolerance, Reproduction& r) : tol_(tolerance), r_(r) {}

  // Records a numeric difference; returns whether it is beyond the tolerance.
  bool numbers(double a, double b, double scale, const std::string& where) {
    if (a == b || (std::isnan(a) && std::isnan(b))) return false;
    const double diff = std::abs(a - b);
    if (!(diff <= tol_ * std::max({1.0, std::abs(scale), std::abs(a), std::abs(b)}))) {
      r_.differences.push_back(where + ": " + number(a) + " vs " + number(b));
      return true;
    }
    within(diff, where + " (" + number(a) + " vs " + number(b) + ")");
    return false;
  }
  void within(double diff, const std::string& where) {
    any_within_ = true;
    if (diff > largest_) largest_ = diff, r_.largest = number(diff) + " at " + where;
  }
  void different(const std::string& where) { r_.differences.push_back(where); }
  bool anyWithin() const { return any_within_; }

  // Tensors of two .edgeopt files; returns false when anything differs beyond the tolerance.
  bool models(const std::string& a_path, const std::string& b_path, const std::string& where) {
    std::shared_ptr<GraphModule> a, b;
    try {
      a = GraphModule::load(a_path), b = GraphModule::load(b_path);
    } catch (const std::exception& e) {
      different(where + ": unreadable (" + e.what() + ")");
      return false;
    }
    bool ok = true;
    if (a->graph().print() != b->graph().print()) different(where + ": the graphs differ"), ok = false;
    // Tensors beyond the tolerance: counted, the worst one named.
    int beyond = 0;
    double worst = -1;
    std::string worst_text;
    const auto sa = a->stateDict(), sb = b->stateDict();
    std::map<std::string, at::Tensor> mb(sb.begin(), sb.end());
    for (const auto& [name, ta] : sa) {
      auto it = mb.find(name);
      if (it == mb.end()) {
        different(where + ": tensor " + name + " missing in the reproduction"), ok = false;
        continue;
      }
      const at::Tensor& tb = it->second;
      ++r_.compared_tensors;
      if (ta.sizes() != tb.sizes() || ta.scalar_type() != tb.scalar_type()) {
        different(where + ": tensor " + name + " has another shape or dtype"), ok = false;
      } else if (!at::equal(ta, tb)) {
        const at::Tensor da = ta.to(at::kDouble), db = tb.to(at::kDouble);
        const double diff = (da - db).abs().max().item<double>();
        const double scale = std::max(1.0, da.abs().max().item<double>());
        if (!(diff <= tol_ * scale)) {
          ++beyond;
          if (diff / scale > worst)
            worst = diff / scale, worst_text = name + " by up to " + number(diff) + " (largest |value| " + number(scale) + ")";
          ok = false;
        } else {
          within(diff, where + ": tensor " + name);
        }
      }
      mb.erase(it);
    }
    for (const auto& [name, t] : mb) different(where + ": tensor " + name + " only in the reproduction"), ok = false;
    if (beyond)
      different(where + ": " + std::to_string(beyond) + " of " + std::to_string(sa.size()) + " tensors differ, most " +
                worst_text);
    return ok;
  }

 private:
  double tol_;
  Reproduction& r_;
  double largest_ = 0;
  bool any_within_ = false;
};

void compareEnvironment(const json& a, const json& b, std::vector<std::string>& out) {
  auto same = [&](const std::string& what, const json* x, const json* y) {
    const std::string tx = x ? text(*x) : "(none)", ty = y ? text(*y) : "(none)";
    if (tx != ty) out.push_back(what + ": " + tx + " -> " + ty);
  };
  same("EdgeOpt version", at(a, {"edgeopt", "version"}), at(b, {"edgeopt", "version"}));
  same("EdgeOpt git commit", at(a, {"edgeopt", "git_commit"}), at(b, {"edgeopt", "git_commit"}));
  same("plugin API version", at(a, {"edgeopt", "plugin_api_version"}), at(b, {"edgeopt", "plugin_api_version"}));
  same("LibTorch version", at(a, {"libtorch", "version"}), at(b, {"libtorch", "version"}));
  same("seed", at(a, {"seed"}), at(b, {"seed"}));
  same("deterministic", at(a, {"deterministic"}), at(b, {"deterministic"}));
  same("threads", at(a, {"effective_threads"}) ? at(a, {"effective_threads"}) : at(a, {"threads"}),
       at(b, {"effective_threads"}) ? at(b, {"effective_threads"}) : at(b, {"threads"}));
  same("world size", at(a, {"world_size"}), at(b, {"world_size"}));
  if (const json* w = at(a, {"world_size"}); w && w->is_number_integer() && w->get<int>() > 1 && !out.empty() &&
                                             out.back().rfind("world size", 0) == 0)
    out.back() += " (reproduce with --nproc " + std::to_string(w->get<int>()) + ")";
  same("data set", at(a, {"data", "dataset"}), at(b, {"data", "dataset"}));
  same("data fingerprint", at(a, {"data", "fingerprint"}), at(b, {"data", "fingerprint"}));
  same("cpu", at(a, {"host", "cpu"}), at(b, {"host", "cpu"}));
  std::map<std::string, const json*> pa, pb;
  if (const json* p = at(a, {"plugins"}); p && p->is_array())
    for (const auto& x : *p) pa[x.value("name", "?")] = &x;
  if (const json* p = at(b, {"plugins"}); p && p->is_array())
    for (const auto& x : *p) pb[x.value("name", "?")] = &x;
  for (const auto& [name, x] : pa) {
    auto it = pb.find(name);
    if (it == pb.end()) {
      out.push_back("plugin " + name + ": not loaded now (was " + x->value("path", "?") + ")");
      continue;
    }
    const json* y = it->second;
    if (x->value("version", "") != y->value("version", ""))
      out.push_back("plugin " + name + ": version " + x->value("version", "") + " -> " + y->value("version", ""));
    if (x->value("sha256", "") != y->value("sha256", ""))
      out.push_back("plugin " + name + ": binary changed (SHA-256 " + shortHash(x->value("sha256", "")) + "... -> " +
                    shortHash(y->value("sha256", "")) + "..., " + y->value("path", "?") + ")");
  }
  for (const auto& [name, y] : pb)
    if (!pa.count(name)) out.push_back("plugin " + name + ": loaded now, not in the recorded run (" + y->value("path", "?") + ")");
}

bool isTiming(const std::string& key) { return key == "seconds" || key == "images_per_sec"; }

}  // namespace

void checkFinishedRun(const std::string& dir, const std::string& flag) {
  std::error_code ec;
  const fs::path d(dir);
  if (!fs::is_directory(d, ec) || !fs::is_regular_file(d / "state.json", ec) || !fs::is_regular_file(d / "recipe.yaml", ec) ||
      !fs::is_regular_file(d / "manifest.json", ec))
    throw UsageError(flag + " " + dir + ": not a run directory (recipe.yaml, manifest.json or state.json missing)");
  const auto [done, stages] = progressOf(dir);
  if (done < stages)
    throw UsageError(flag + " " + dir + ": the run has not finished (" + std::to_string(done) + " of " +
                     std::to_string(stages) + " stages); finish it with --resume " + dir + " first");
}

std::vector<std::string> reproduceSets(const std::string& original) {
  const json m = readJson((fs::path(original) / "manifest.json").string());
  if (m.value("threads", -1) == 0 && m.contains("effective_threads") && m["effective_threads"].is_number_integer() &&
      m["effective_threads"].get<int>() != effectiveThreads(0))
    return {"threads=" + std::to_string(m["effective_threads"].get<int>())};
  return {};
}

Reproduction compareRuns(const std::string& original, const std::string& reproduced, double tolerance) {
  Reproduction r;
  const fs::path a(original), b(reproduced);
  compareEnvironment(readJson((a / "manifest.json").string()), readJson((b / "manifest.json").string()), r.environment);
  Comparer cmp(tolerance, r);

  // Metrics rows, key by key (timings left out).
  const json ra = readJson((a / "state.json").string()).value("metrics", json::array());
  const json rb = readJson((b / "state.json").string()).value("metrics", json::array());
  if (ra.size() != rb.size())
    cmp.different("metrics: " + std::to_string(ra.size()) + " rows recorded, " + std::to_string(rb.size()) + " now");
  for (size_t i = 0; i < std::min(ra.size(), rb.size()); ++i) {
    ++r.compared_rows;
    const json &x = ra[i], &y = rb[i];
    const std::string where = "metrics row " + std::to_string(i + 1) + " (stage " + text(x.value("stage", json())) + " " +
                              text(x.value("kind", json())) +
                              (x.contains("epoch") ? ", epoch " + text(x["epoch"]) : std::string()) + ")";
    std::set<std::string> keys;
    for (const auto& item : x.items()) keys.insert(item.key());
    for (const auto& item : y.items()) keys.insert(item.key());
    for (const auto& key : keys) {
      if (isTiming(key)) continue;
      if (!x.contains(key) || !y.contains(key)) {
        cmp.different(where + " " + key + ": only in the " + (x.contains(key) ? "recorded run" : "reproduction"));
      } else if (x[key].is_number() && y[key].is_number()) {
        cmp.numbers(x[key].get<double>(), y[key].get<double>(), 0, where + " " + key);
      } else if (x[key] != y[key]) {
        cmp.different(where + " " + key + ": " + text(x[key]) + " vs " + text(y[key]));
      }
    }
  }

  // Checkpoints: tensors.
  auto isModel = [](const fs::path& p) {
    return p.extension() == ".edgeopt" && p.filename().string().rfind("progress-", 0) != 0;
  };
  bool models_identical = true, models_ok = true;
  std::vector<std::string> ca = filesUnder(a, "checkpoints", isModel), cb = filesUnder(b, "checkpoints", isModel);
  for (const auto& f : filesUnder(a, "stages", isModel)) ca.push_back(f);
  for (const auto& f : filesUnder(b, "stages", isModel)) cb.push_back(f);
  for (const auto& f : ca) {
    if (std::find(cb.begin(), cb.end(), f) == cb.end()) {
      cmp.different(f + ": missing in the reproduction"), models_ok = false;
      continue;
    }
    ++r.compared_files;
    if (sha256File((a / f).string()) == sha256File((b / f).string())) continue;
    models_identical = false;
    models_ok = cmp.models((a / f).string(), (b / f).string(), f) && models_ok;
  }
  for (const auto& f : cb)
    if (std::find(ca.begin(), ca.end(), f) == ca.end()) cmp.different(f + ": only in the reproduction");

  // Exports: hashes; an .edgeopt export that differs is compared by tensors.
  // Other formats differ in bytes whenever the weights differ at all: within
  // tolerance when every model compared is.
  auto any = [](const fs::path&) { return true; };
  const auto ea = filesUnder(a, "exports", any), eb = filesUnder(b, "exports", any);
  for (const auto& f : ea) {
    if (std::find(eb.begin(), eb.end(), f) == eb.end()) {
      cmp.different(f + ": missing in the reproduction");
      continue;
    }
    ++r.compared_files;
    const std::string ha = sha256File((a / f).string()), hb = sha256File((b / f).string());
    if (ha == hb) continue;
    if (fs::path(f).extension() == ".edgeopt") {
      models_identical = false;
      models_ok = cmp.models((a / f).string(), (b / f).string(), f) && models_ok;
    } else if (!models_identical && models_ok) {
      cmp.within(0, f + " (SHA-256 " + shortHash(ha) + "... vs " + shortHash(hb) + "...; its model's tensors are within tolerance)");
    } else {
      cmp.different(f + ": SHA-256 " + shortHash(ha) + "... vs " + shortHash(hb) + "...");
    }
  }
  for (const auto& f : eb)
    if (std::find(ea.begin(), ea.end(), f) == ea.end()) cmp.different(f + ": only in the reproduction");

  r.verdict = !r.differences.empty() ? Reproduction::Verdict::Different
              : cmp.anyWithin()      ? Reproduction::Verdict::WithinTolerance
                                     : Reproduction::Verdict::Identical;
  return r;
}

std::string Reproduction::text() const {
  std::string out;
  for (const auto& e : environment) out += "environment differs: " + e + "\n";
  out += "compared " + std::to_string(compared_rows) + " metrics rows, " + std::to_string(compared_files) +
         " checkpoint and export files, " + std::to_string(compared_tensors) + " tensors of files that differ in bytes\n";
  switch (verdict) {
    case Verdict::Identical:
      out += "verdict: identical\n";
      break;
    case Verdict::WithinTolerance:
      out += "verdict: same within tolerance (largest difference " + largest + ")\n";
      break;
    case Verdict::Different: {
      out += "verdict: different (" + std::to_string(differences.size()) + " differences)\n";
      const size_t shown = std::min<size_t>(differences.size(), 20);
      for (size_t i = 0; i < shown; ++i) out += "  " + differences[i] + "\n";
      if (differences.size() > shown) out += "  ... and " + std::to_string(differences.size() - shown) + " more\n";
      break;
    }
  }
  return out;
}

}  // namespace edgeopt
