#pragma once
// Dataflow patterns and the greedy rewrite driver.
//
// A Pattern is a small DAG matched by following edges (a node's inputs), never
// by position in the node list, so unrelated nodes in between don't break a
// match and adjacent-but-unconnected nodes never fake one:
//
//   Pattern p;
//   auto x = p.any();                                    // any value: a pattern input
//   auto conv = p.op("conv2d", {x, p.param()}).allowExtraInputs();   // bias optional
//   auto bn = p.op("batch_norm", {conv, p.param(), p.param(), p.param(), p.param()});
//   if (auto m = p.match(node)) { Node* c = m->node(conv); ... }
//
// The last op added is the root. Values produced inside the match must have no
// users outside it, unless marked with escapes(): then the match may still be
// rewritten as long as the rewrite keeps those values.
//
// RewritePattern follows MLIR's contract: matchAndRewrite changes the graph
// (only through the Rewriter) if and only if it returns true.
#include <edgeopt/ir/graph.h>
#include <edgeopt/passes/rewriter.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

namespace edgeopt {

class GraphModule;

class Pattern {
 public:
  using Predicate = std::function<bool(const ir::Node&)>;

  // A value of the pattern; converts to "output 0 of this op" where an input is expected.
  struct Ref {
    int id = -1;
  };

  class OpBuilder {
   public:
    OpBuilder& where(Predicate p);          // attribute or other predicate on the node
    OpBuilder& allowExtraInputs();          // the node may have more inputs than listed
    OpBuilder& commutative();               // inputs 0 and 1 may match in either order
    OpBuilder& escapes();                   // its outputs may have users outside the match
    Ref output(size_t index) const;         // a further output of a multi-output op
    operator Ref() const { return {id_}; }  // output 0

   private:
    friend class Pattern;
    OpBuilder(Pattern* p, int id) : pattern_(p), id_(id) {}
    Pattern* pattern_;
    int id_;
  };

  Ref any();    // binds any value (the same Ref must bind the same value)
  Ref param();  // binds a value produced by a Param node
  OpBuilder op(const std::string& target, std::vector<Ref> inputs);
  // A node calling any of `targets` (sigmoid or hardsigmoid, say). As the
  // root, the pattern is anchored at the first target only.
  OpBuilder oneOf(std::vector<std::string> targets, std::vector<Ref> inputs);

  struct Match {
    std::vector<ir::Node*> nodes;    // per pattern entry (ops), nullptr otherwise
    std::vector<ir::Value*> values;  // per pattern entry
    ir::Node* node(Ref r) const { return nodes.at(static_cast<size_t>(r.id)); }
    ir::Value* value(Ref r) const { return values.at(static_cast<size_t>(r.id)); }
    ir::Node* root() const;
    int root_id = -1;
  };

  // Matches with `root` as the pattern's last op.
  std::optional<Match> match(ir::Node* root) const;
  const std::string& rootTarget() const;

 private:
  enum class Kind { Any, Param, Op, Output };
  struct Entry {
    Kind kind;
    std::vector<std::string> targets;
    std::vector<int> inputs;
    Predicate predicate;
    bool extra_inputs = false, commutative = false, escapes = false;
    int op = -1;             // for Output: the op entry
    size_t output_index = 0;
  };
  bool matchValue(int id, ir::Value* v, Match& m) const;
  bool matchOp(int id, ir::Node* n, Match& m) const;
  bool matchInputs(const Entry& e, ir::Node* n, Match& m, bool swapped) const;
  bool usesStayInside(const Match& m) const;
  int add(Entry e);
  std::vector<Entry> entries_;
};

// A local rewrite anchored at nodes calling `rootTarget()`.
class RewritePattern {
 public:
  explicit RewritePattern(std::string root_target, unsigned benefit = 1)
      : root_(std::move(root_target)), benefit_(benefit) {}
  virtual ~RewritePattern() = default;
  const std::string& rootTarget() const { return root_; }
  unsigned benefit() const { return benefit_; }
  // Debug name (recipes can disable a pattern by it).
  virtual std::string name() const = 0;
  virtual bool matchAndRewrite(ir::Node* root, Rewriter& rewriter) const = 0;

 private:
  std::string root_;
  unsigned benefit_;
};

struct GreedyRewriteConfig {
  int max_iterations = 10;
  std::vector<std::string> disabled;  // pattern names
  // Only nodes it accepts are tried as roots (empty: every node).
  std::function<bool(const ir::Node&)> root_filter;
  // Called after each successful rewrite with the pattern's name and the
  // root's name as it was before the rewrite.
  std::function<void(const std::string& pattern, const std::string& root)> on_apply;
};

// Applies the patterns until none fires (or max_iterations sweeps); returns
// whether anything changed. Patterns are indexed by root op; on a node, higher
// benefit is tried first.
bool applyPatternsGreedily(Rewriter& rewriter, const std::vector<std::unique_ptr<RewritePattern>>& patterns,
                           const GreedyRewriteConfig& config = {});
bool applyPatternsGreedily(GraphModule& module, const std::vector<std::unique_ptr<RewritePattern>>& patterns,
                           const GreedyRewriteConfig& config = {});

}  // namespace edgeopt
