#pragma once
// Rules written in the recipe, applied after the table in declared order:
//
//   replace:                                   # node level
//     - {from: "type:Hardswish", to: relu}     # every selected node -> relu
//     - {from: "re:features\\.1[0-5]\\..*", to: identity}
//     - {pattern: "relu6 -> dropout", to: relu}
//     - {pattern: "max_pool2d{kernel_size: 5}", to: max_pool2d, attrs: {kernel_size: 3, padding: 1, stride: 1}}
//     - {from: "type:MaxPool2d", to: max_pool2d, attrs: {kernel_size: [3, 3], stride: [1, 1], padding: [1, 1]}}
//   modules:                                   # module level (surgery v1)
//     - {module: "type:SqueezeExcitation", to: identity}
//     - {module: "features.3", to: conv_bn_relu, kernel_size: 3}
//
// `from` takes layer selectors (selector.h); the selected nodes form
// connected regions, each replaced as a whole (region.h). `pattern` is a
// chain of ops, each with optional attribute predicates in YAML flow form
// (conv2d also offers kernel_size, in_channels, out_channels from its
// weight). `module` picks module instances by exact path, `re:` path regex
// or `type:` module type. A rule that matches nothing is a recipe error at
// its line.
#include "rules.h"

#include <edgeopt/config.h>

#include <memory>
#include <string>

namespace edgeopt::surgery {

// RecipeError (at the entry) for a malformed entry.
std::unique_ptr<SurgeryRule> makeReplaceRule(const ConfigNode& entry, const std::string& key);
std::unique_ptr<SurgeryRule> makeModuleRule(const ConfigNode& entry, const std::string& key);

}  // namespace edgeopt::surgery
