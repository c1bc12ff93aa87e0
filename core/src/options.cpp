#include <edgeopt/options.h>
#include <edgeopt/selector.h>

#include "text_util.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace edgeopt {

const char* toString(OptionType t) {
  switch (t) {
    case OptionType::Bool: return "bool";
    case OptionType::Int: return "integer";
    case OptionType::Float: return "number";
    case OptionType::String: return "string";
    case OptionType::Path: return "path";
    case OptionType::IntList: return "list of integers";
    case OptionType::FloatList: return "list of numbers";
    case OptionType::StringList: return "list of strings";
    case OptionType::Selectors: return "layer selectors";
    case OptionType::Map: return "map";
    case OptionType::List: return "list";
  }
  return "?";
}

namespace {

[[noreturn]] void typeError(const ConfigNode& n, const std::string& key, const char* expected) {
  throw RecipeError(n.location(), key, std::string("expected ") + expected + ", got " + n.describe());
}

const ConfigNode& requireScalar(const ConfigNode& n, const std::string& key, const char* expected) {
  if (!n.isScalar()) typeError(n, key, expected);
  return n;
}

bool parseBool(const ConfigNode& n, const std::string& key) {
  const std::string& v = requireScalar(n, key, "true or false").value();
  if (v == "true" || v == "True" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "False" || v == "no" || v == "off") return false;
  typeError(n, key, "true or false");
}

int64_t parseInt(const ConfigNode& n, const std::string& key) {
  const std::string& v = requireScalar(n, key, "an integer").value();
  errno = 0;
  char* end = nullptr;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno == ERANGE || n.quoted()) typeError(n, key, "an integer");
  return x;
}

double parseFloat(const ConfigNode& n, const std::string& key) {
  const std::string& v = requireScalar(n, key, "a number").value();
  errno = 0;
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(x) || n.quoted())
    typeError(n, key, "a number");
  return x;
}

// A list option also accepts a single scalar, as a one-element list.
template <class T, class Parse>
std::vector<T> parseList(const ConfigNode& n, const std::string& key, Parse parse) {
  std::vector<T> out;
  if (n.isScalar()) {
    out.push_back(parse(n, key));
  } else if (n.isSequence()) {
    for (size_t i = 0; i < n.items().size(); ++i) out.push_back(parse(n.items()[i], joinKey(key, std::to_string(i))));
  } else {
    throw RecipeError(n.location(), key, "expected a list, got " + n.describe());
  }
  return out;
}

std::string parseString(const ConfigNode& n, const std::string& key) {
  return requireScalar(n, key, "a string").value();
}

void checkRange(const OptionSpec& spec, const ConfigNode& n, const std::string& key, double x) {
  if ((spec.min() && x < *spec.min()) || (spec.max() && x > *spec.max())) {
    std::ostringstream s;
    if (spec.min() && spec.max()) s << "must be between " << *spec.min() << " and " << *spec.max();
    else if (spec.min()) s << "must be at least " << *spec.min();
    else s << "must be at most " << *spec.max();
    s << " (got " << n.value() << ")";
    throw RecipeError(n.location(), key, s.str());
  }
}

OptionValue parseValue(const OptionSpec& spec, const ConfigNode& n, const std::string& key,
                       const std::string& base_dir) {
  switch (spec.type()) {
    case OptionType::Bool: return parseBool(n, key);
    case OptionType::Int: {
      int64_t x = parseInt(n, key);
      checkRange(spec, n, key, static_cast<double>(x));
      // choices() on an Int: a set a range can't express (channels: 1 or 3).
      const auto& choices = spec.allowedChoices();
      if (!choices.empty() && std::find(choices.begin(), choices.end(), std::to_string(x)) == choices.end())
        throw RecipeError(n.location(), key, "must be one of: " + join(choices, ", ") + " (got " + n.value() + ")");
      return x;
    }
    case OptionType::Float: {
      double x = parseFloat(n, key);
      checkRange(spec, n, key, x);
      return x;
    }
    case OptionType::String: {
      std::string s = parseString(n, key);
      const auto& choices = spec.allowedChoices();
      if (!choices.empty() && std::find(choices.begin(), choices.end(), s) == choices.end())
        throw RecipeError(n.location(), key,
                          "must be one of: " + join(choices, ", ") + " (got \"" + s + "\")" +
                              didYouMean(s, choices));
      return s;
    }
    case OptionType::Path: {
      std::filesystem::path p(parseString(n, key));
      if (p.is_relative()) p = std::filesystem::path(base_dir) / p;
      return p.lexically_normal().string();
    }
    // A list's range applies to each value (input_shape: every size at least 1).
    case OptionType::IntList:
      return parseList<int64_t>(n, key, [&](const ConfigNode& item, const std::string& item_key) {
        const int64_t x = parseInt(item, item_key);
        checkRange(spec, item, item_key, static_cast<double>(x));
        return x;
      });
    case OptionType::FloatList:
      return parseList<double>(n, key, [&](const ConfigNode& item, const std::string& item_key) {
        const double x = parseFloat(item, item_key);
        checkRange(spec, item, item_key, x);
        return x;
      });
    case OptionType::StringList: return parseList<std::string>(n, key, parseString);
    case OptionType::Selectors: {
      auto texts = parseList<std::string>(n, key, parseString);
      for (size_t i = 0; i < texts.size(); ++i) {
        try {
          Selector::parse(texts[i]);
        } catch (const std::invalid_argument& e) {
          const ConfigNode& at = n.isSequence() ? n.items()[i] : n;
          throw RecipeError(at.location(), key, e.what());
        }
      }
      return texts;
    }
    case OptionType::Map:
      if (n.isNull()) return ConfigNode::map(n.location());
      if (!n.isMap()) typeError(n, key, "a map");
      return n;
    case OptionType::List:
      if (!n.isSequence()) typeError(n, key, "a list");
      return n;
  }
  throw RecipeError(n.location(), key, "unsupported option type");
}

}  // namespace

OptionSpec& OptionSchema::add(const std::string& name, OptionType type) {
  specs_.emplace_back(name, type);
  return specs_.back();
}

const OptionSpec* OptionSchema::find(const std::string& name) const {
  for (const auto& s : specs_)
    if (s.name() == name) return &s;
  return nullptr;
}

Options OptionSchema::validate(const ConfigNode& node, const std::string& key,
                               const std::vector<std::string>& skip,
                               const std::string& base_dir) const {
  Options out;
  out.base_key_ = key;
  out.base_loc_ = node.location();
  if (!node.isNull() && !node.isMap())
    throw RecipeError(node.location(), key, "expected a map of options, got " + node.describe());

  std::vector<std::string> known;
  for (const auto& s : specs_) known.push_back(s.name());
  // Unknown keys are reported at the key itself.
  for (const auto& e : node.entries()) {
    if (std::find(skip.begin(), skip.end(), e.key) != skip.end()) continue;
    const OptionSpec* spec = find(e.key);
    if (!spec)
      throw RecipeError(e.key_location, joinKey(key, e.key),
                        "unknown key" + didYouMean(e.key, known) +
                            (known.empty() ? " (this takes no options)" : " (known: " + join(known, ", ") + ")"));
    if (e.value.isNull() && spec->type() != OptionType::Map)
      throw RecipeError(e.key_location, joinKey(key, e.key), std::string("has no value; expected ") + toString(spec->type()));
    out.set(e.key, parseValue(*spec, e.value, joinKey(key, e.key), base_dir), e.value.location());
  }
  // Missing keys are reported at the enclosing map.
  for (const auto& spec : specs_) {
    if (out.has(spec.name())) continue;
    if (spec.isRequired())
      throw RecipeError(node.location(), key, "missing required key '" + spec.name() + "'" +
                                                  (spec.helpText().empty() ? "" : " (" + spec.helpText() + ")"));
    if (spec.defaultValueOrNone()) out.set(spec.name(), *spec.defaultValueOrNone(), node.location());
  }
  return out;
}

static std::string formatValue(const OptionValue& v) {
  struct Visit {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(int64_t x) const { return std::to_string(x); }
    std::string operator()(double x) const { std::ostringstream s; s << x; return s.str(); }
    std::string operator()(const std::string& x) const { return x; }
    std::string operator()(const std::vector<int64_t>& x) const {
      std::vector<std::string> p; for (auto i : x) p.push_back(std::to_string(i)); return "[" + join(p, ", ") + "]"; }
    std::string operator()(const std::vector<double>& x) const {
      std::vector<std::string> p; for (auto i : x) p.push_back((*this)(i)); return "[" + join(p, ", ") + "]"; }
    std::string operator()(const std::vector<std::string>& x) const { return "[" + join(x, ", ") + "]"; }
    std::string operator()(const ConfigNode&) const { return "{}"; }
  };
  return std::visit(Visit{}, v);
}

std::vector<std::string> OptionSchema::describe() const {
  std::vector<std::string> lines;
  for (const auto& s : specs_) {
    std::string line = s.name() + " (" + toString(s.type());
    if (s.isRequired()) line += ", required";
    else if (s.defaultValueOrNone()) line += ", default " + formatValue(*s.defaultValueOrNone());
    if (!s.allowedChoices().empty()) line += ", one of " + join(s.allowedChoices(), "|");
    line += ")";
    if (!s.helpText().empty()) line += ": " + s.helpText();
    lines.push_back(line);
  }
  return lines;
}

const SourceLocation& Options::location(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? base_loc_ : it->second.loc;
}

void Options::fail(const std::string& name, const std::string& message) const {
  throw RecipeError(location(name), key(name), message);
}

void Options::set(const std::string& name, OptionValue v, SourceLocation loc) {
  values_[name] = Slot{std::move(v), std::move(loc)};
}

}  // namespace edgeopt
