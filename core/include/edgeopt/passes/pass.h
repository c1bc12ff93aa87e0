#pragma once
// Graph passes: named transformations of a GraphModule, run by a PassManager.
//
// Every pass is declared once in the pass table (core/src/passes/pass_table.cpp):
// its name as recipes and tools spell it ("fold-conv-bn"), a summary, a
// description with a before/after example, and an OptionSchema. A pass returns
// PassResult{modified}; it must change the module if and only if it says so.
#include <edgeopt/options.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace edgeopt {

class GraphModule;

struct PassResult {
  bool modified = false;
};

class Pass {
 public:
  virtual ~Pass() = default;
  virtual PassResult run(GraphModule& module) = 0;
};

struct PassInfo {
  std::string name;         // "dce"
  std::string summary;      // one line
  std::string description;  // with a before/after example
  OptionSchema options;
  std::function<std::unique_ptr<Pass>(const Options&)> create;
};

// All passes, in table order.
const std::vector<PassInfo>& passTable();
// The pass called `name`; RuntimeFailure listing the known passes otherwise.
const PassInfo& findPass(const std::string& name);
// A pass with its default options.
std::unique_ptr<Pass> createPass(const std::string& name);

struct PassManagerOptions {
  bool verify_each = true;  // GraphModule::lint after every pass
  int max_rounds = 1;       // >1: repeat the pipeline until nothing changes
};

class PassManager {
 public:
  explicit PassManager(PassManagerOptions options = {}) : options_(options) {}
  void add(std::string name, std::unique_ptr<Pass> pass);
  void add(const std::string& name) { add(name, createPass(name)); }
  // Runs the passes in order. A failure is rethrown as RuntimeFailure naming
  // the pass and the passes that ran before it.
  PassResult run(GraphModule& module) const;

 private:
  PassManagerOptions options_;
  std::vector<std::pair<std::string, std::unique_ptr<Pass>>> passes_;
};

}  // namespace edgeopt
