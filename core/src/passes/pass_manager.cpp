#include <edgeopt/error.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/passes/pass.h>

#include <c10/util/Exception.h>

namespace edgeopt {

void PassManager::add(std::string name, std::unique_ptr<Pass> pass) {
  passes_.emplace_back(std::move(name), std::move(pass));
}

PassResult PassManager::run(GraphModule& module) const {
  PassResult total;
  std::string history;
  for (int round = 0; round < std::max(1, options_.max_rounds); ++round) {
    bool changed = false;
    for (const auto& [name, pass] : passes_) {
      const std::string context =
          "pass '" + name + "' failed" + (history.empty() ? "" : " (after " + history + ")") + ": ";
      try {
        PassResult r = pass->run(module);
        if (r.modified && options_.verify_each) module.lint();
        changed = changed || r.modified;
      } catch (const c10::Error& e) {
        throw RuntimeFailure(context + e.what_without_backtrace());
      } catch (const std::exception& e) {
        throw RuntimeFailure(context + e.what());
      }
      history += (history.empty() ? "" : ", ") + name;
    }
    total.modified = total.modified || changed;
    if (!changed) break;
  }
  return total;
}

}  // namespace edgeopt
