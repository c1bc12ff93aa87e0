#pragma once
// Regions: the connected pieces of a model that a recipe's custom rule or a
// module-level rule replaces, and what it replaces them by.
//
// A region is a set of Call nodes with exactly one data input (a value made
// outside the region that is not a parameter) and one result used outside
// it. Its replacement reads that input and takes over the result's users:
//   identity              the result becomes the input
//   "relu -> max_pool2d"  a chain of parameter-free ops (attributes per op)
//   conv_bn_relu, conv_bn, conv   a block with fresh, torchvision-initialised
//                         parameters whose input/output channels and stride
//                         are copied from the region (its shapes)
#include "rules.h"

#include <edgeopt/config.h>

#include <string>
#include <vector>

namespace edgeopt::surgery {

struct Region {
  std::string name;  // for reports: the module path, or the first node's name
  std::vector<ir::Node*> nodes;
  ir::Value* input = nullptr;
  ir::Value* output = nullptr;
};

struct Replacement {
  enum class Kind { Identity, Ops, Block };
  Kind kind = Kind::Identity;
  std::vector<std::pair<std::string, ir::Attrs>> ops;  // Kind::Ops
  std::string block;                                   // Kind::Block
  int64_t kernel_size = 3;                             // Kind::Block
  std::string text;                                    // as written, for reports

  // `to` (a string) and the entry's `attrs:` (attributes of a single op,
  // may be null) / `kernel_size:`; RecipeError at `to` for an unknown op or
  // block.
  static Replacement parse(const ConfigNode& to, const ConfigNode* attrs, const ConfigNode* kernel_size,
                           const std::string& key, bool blocks_allowed);
};

// Connected components of `nodes` (edges between two of them), in graph
// order; fills input/output, or throws `fail(region, why)`.
std::vector<Region> connectedRegions(const std::vector<ir::Node*>& nodes,
                                     const std::function<void(const std::string& region, const std::string& why)>& fail);
// Input/output of a given node set; false (and `why`) when it has not one of each.
bool closeRegion(Region& r, std::string& why);

// Puts `with` in place of `r`; erases the region's nodes.
void replaceRegion(Rewriter& rw, const Region& r, const Replacement& with);

// An attribute value compared with a recipe scalar or list ("6", "[6, 6]",
// "true", "nearest"); a scalar equals an all-equal list (kernel_size=6 is 6x6).
bool attrMatches(const ir::AttrValue& value, const ConfigNode& want);
// "relu -> max_pool2d" -> {"relu", "max_pool2d"} (trimmed).
std::vector<std::string> splitChain(const std::string& text);

}  // namespace edgeopt::surgery
