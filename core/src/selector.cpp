#include <edgeopt/options.h>
#include <edgeopt/selector.h>

#include <stdexcept>

namespace edgeopt {

namespace {
bool startsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}
}  // namespace

Selector Selector::parse(const std::string& text) {
  Selector s;
  s.text_ = text;
  std::string body = text;
  if (startsWith(body, "!")) {
    s.exclude_ = true;
    body = body.substr(1);
  }
  if (startsWith(body, "re:")) {
    s.kind_ = Kind::Regex;
    s.pattern_ = body.substr(3);
    try {
      s.regex_ = std::regex(s.pattern_, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw std::invalid_argument("invalid regular expression '" + s.pattern_ + "': " + e.what());
    }
  } else if (startsWith(body, "type:")) {
    s.kind_ = Kind::Type;
    s.pattern_ = body.substr(5);
  } else {
    s.kind_ = Kind::Name;
    s.pattern_ = body;
  }
  if (s.pattern_.empty())
    throw std::invalid_argument("empty selector '" + text + "' (write a name, re:<regex> or type:<type>)");
  return s;
}

bool Selector::matches(const ir::Node& node) const {
  const std::string& name = node.name();
  switch (kind_) {
    case Kind::Name:
      if (name == pattern_) return true;
      for (const auto& s : node.scope())
        if (s.path == pattern_) return true;
      return startsWith(name, pattern_) && name.size() > pattern_.size() && name[pattern_.size()] == '.';
    case Kind::Regex:
      return std::regex_match(name, regex_);
    case Kind::Type:
      if (node.moduleType() == pattern_ || node.target() == pattern_) return true;
      for (const auto& s : node.scope())
        if (s.type == pattern_) return true;
      return false;
  }
  return false;
}

std::vector<ir::Node*> resolveSelectors(const ir::Graph& graph, const Options& options,
                                        const std::string& option) {
  std::vector<ir::Node*> calls;
  for (ir::Node* n : graph.nodes())
    if (n->opcode() == ir::Opcode::Call) calls.push_back(n);
  const auto& texts = options.get<std::vector<std::string>>(option);
  // Only exclusions ("!features.0") means "everything but these".
  bool only_excludes = true;
  for (const auto& t : texts) only_excludes = only_excludes && !t.empty() && t[0] == '!';
  std::vector<bool> included(calls.size(), only_excludes), excluded(calls.size(), false);
  for (const std::string& text : texts) {
    Selector s = Selector::parse(text);
    bool any = false;
    for (size_t i = 0; i < calls.size(); ++i) {
      if (!s.matches(*calls[i])) continue;
      any = true;
      (s.excludes() ? excluded : included)[i] = true;
    }
    if (!any) {
      std::string examples;
      for (size_t i = 0; i < calls.size() && i < 4; ++i) examples += (i ? ", " : "") + calls[i]->name();
      options.fail(option, "selector '" + text + "' matches no layer of the model (layer names look like: " +
                               examples + "; see edgeopt-run --dry-run or the summary stage)");
    }
  }
  std::vector<ir::Node*> out;
  for (size_t i = 0; i < calls.size(); ++i)
    if (included[i] && !excluded[i]) out.push_back(calls[i]);
  return out;
}

}  // namespace edgeopt
