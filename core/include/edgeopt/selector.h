#pragma once
// Layer selectors: one grammar for every technique that targets layers.
//
//   features.3.conv.0   exact name: the node of that name, or every node inside
//                       the module with that path (all of features.3.conv.0.*)
//   re:features\.1[0-5]\..*   regex, matched against the whole node name
//   type:Conv2d         module type of the node or of a module enclosing it
//                       (type:InvertedResidual), or the op name (type:conv2d)
//   !<selector>         exclude what <selector> matches
//
// A list of selectors selects the union of its includes minus the union of its
// excludes: exclusions take precedence regardless of order; a list of only
// exclusions selects every layer but those. Every selector must
// match at least one node, otherwise the recipe is in error (a typo would
// otherwise silently select nothing).
#include <edgeopt/ir/graph.h>

#include <regex>
#include <string>
#include <vector>

namespace edgeopt {

class Options;

class Selector {
 public:
  enum class Kind { Name, Regex, Type };

  // Throws std::invalid_argument with a readable reason for bad syntax.
  static Selector parse(const std::string& text);

  bool matches(const ir::Node& node) const;
  Kind kind() const { return kind_; }
  bool excludes() const { return exclude_; }
  const std::string& text() const { return text_; }

 private:
  Kind kind_ = Kind::Name;
  bool exclude_ = false;
  std::string text_;     // as written
  std::string pattern_;  // without prefixes
  std::regex regex_;
};

// The Call nodes of `graph` selected by the Selectors option `option`, in graph
// order. A selector that matches nothing throws a RecipeError at the option.
std::vector<ir::Node*> resolveSelectors(const ir::Graph& graph, const Options& options,
                                        const std::string& option);

}  // namespace edgeopt
