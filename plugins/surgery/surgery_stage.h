#pragma once
// The `surgery` stage (see docs/surgery.md):
//
//   - kind: surgery
//     preset: lite                    # TI's v2 default table; none: only what is listed
//     all_activation_to_relu: true    # switches every <act>_to_relu rule together
//     rules: {gelu_to_relu: false, conv_k8plus_to_3x3: true, my_plugin_rule: {option: 1}}
//     layers: ["!classifier"]         # where the table's rules may fire (default: everywhere)
//     modules: [{module: "type:SqueezeExcitation", to: identity}]
//     replace: [{from: "type:Hardswish", to: relu}, {pattern: "relu6 -> dropout", to: relu}]
//
// Order: modules:, then replace: (in declared order, on the model as it came),
// then the table (its order below, then plugin rules in recipe order). Each
// rule's changes are linted and shape-checked before the next rule runs.
#include "rules.h"

#include <edgeopt/stage.h>

#include <string>
#include <vector>

namespace edgeopt::surgery {

// The default table, in the order its rules run.
struct TableEntry {
  const char* rule;
  bool on_by_default;
};
const std::vector<TableEntry>& liteTable();

void registerSurgeryStage(PluginRegistrar& r);

// What one run of the stage did, for logs, the stage folder and --dry-run.
struct SurgeryLog {
  struct Entry {
    std::string rule;
    std::vector<std::string> replaced;  // node or module names
  };
  std::vector<Entry> entries;
  int64_t params_before = 0, params_after = 0, macs_before = 0, macs_after = 0;
  std::map<std::string, int64_t> ops_before, ops_after;  // op -> count
  std::vector<std::string> lines() const;
  std::string json() const;
};

}  // namespace edgeopt::surgery
