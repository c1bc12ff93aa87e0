#pragma once
// Declared, validated options: every configurable thing (stage, model source,
// dataset, exporter) declares an OptionSchema; the recipe validator checks the
// user's map against it before anything runs and hands the component typed
// Options. Unknown keys, wrong types, missing required keys and values out of
// range are RecipeErrors that point at the recipe.
#include <edgeopt/config.h>

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace edgeopt {

enum class OptionType {
  Bool,
  Int,
  Float,
  String,      // with choices(): an enum
  Path,        // a file path; relative paths resolve against the recipe's folder
  IntList,     // a scalar is accepted as a one-element list
  FloatList,
  StringList,
  Selectors,   // layer selectors (string or list of strings), see selector.h
  Map,         // free-form map, validated by the component itself
  List,        // free-form list (ConfigNode), validated by the component itself
};
const char* toString(OptionType t);

using OptionValue = std::variant<bool, int64_t, double, std::string, std::vector<int64_t>,
                                 std::vector<double>, std::vector<std::string>, ConfigNode>;

// One declared option. Chainable setters, LibTorch-options style:
//   schema.add("lr", OptionType::Float).defaultValue(0.1).range(0, 10).help("...");
class OptionSpec {
 public:
  OptionSpec(std::string name, OptionType type) : name_(std::move(name)), type_(type) {}

  OptionSpec& required(bool on = true) { required_ = on; return *this; }
  OptionSpec& defaultValue(OptionValue v) { default_ = std::move(v); return *this; }
  OptionSpec& choices(std::vector<std::string> c) { choices_ = std::move(c); return *this; }
  OptionSpec& range(double lo, double hi) { min_ = lo; max_ = hi; return *this; }
  OptionSpec& atLeast(double lo) { min_ = lo; return *this; }
  OptionSpec& help(std::string h) { help_ = std::move(h); return *this; }

  const std::string& name() const { return name_; }
  OptionType type() const { return type_; }
  bool isRequired() const { return required_; }
  const std::optional<OptionValue>& defaultValueOrNone() const { return default_; }
  const std::vector<std::string>& allowedChoices() const { return choices_; }
  std::optional<double> min() const { return min_; }
  std::optional<double> max() const { return max_; }
  const std::string& helpText() const { return help_; }

 private:
  std::string name_;
  OptionType type_;
  bool required_ = false;
  std::optional<OptionValue> default_;
  std::vector<std::string> choices_;
  std::optional<double> min_, max_;
  std::string help_;
};

class Options;

class OptionSchema {
 public:
  OptionSpec& add(const std::string& name, OptionType type);
  const std::deque<OptionSpec>& specs() const { return specs_; }
  const OptionSpec* find(const std::string& name) const;

  // Validates `node` (a map, or null for "no options") against the schema.
  // `key` is the node's key path for messages ("stages.1"); `skip` lists keys
  // handled by the caller (such as "kind"); Path options resolve against `base_dir`.
  Options validate(const ConfigNode& node, const std::string& key,
                   const std::vector<std::string>& skip = {},
                   const std::string& base_dir = ".") const;

  // One line per option: "name (type, default X): help".
  std::vector<std::string> describe() const;

 private:
  std::deque<OptionSpec> specs_;  // deque: references from add() stay valid
};

// Validated option values with the location each came from.
class Options {
 public:
  bool has(const std::string& name) const { return values_.count(name) != 0; }

  template <class T>
  const T& get(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end())
      throw RuntimeFailure("option '" + name + "' was read but has no value and no default");
    if (auto* v = std::get_if<T>(&it->second.value)) return *v;
    throw RuntimeFailure("option '" + name + "' was read with the wrong type");
  }
  template <class T>
  T getOr(const std::string& name, T fallback) const {
    return has(name) ? get<T>(name) : fallback;
  }

  // Where the option was written (the enclosing map's location for defaults).
  const SourceLocation& location(const std::string& name) const;
  // The option's key path for messages ("stages.1.layers").
  std::string key(const std::string& name) const { return joinKey(base_key_, name); }
  const std::string& baseKey() const { return base_key_; }
  const SourceLocation& baseLocation() const { return base_loc_; }

  // Throws a RecipeError at the option's location (for checks the schema can't express).
  [[noreturn]] void fail(const std::string& name, const std::string& message) const;

  void set(const std::string& name, OptionValue v, SourceLocation loc);

 private:
  friend class OptionSchema;
  struct Slot {
    OptionValue value;
    SourceLocation loc;
  };
  std::map<std::string, Slot> values_;
  std::string base_key_;
  SourceLocation base_loc_;
};

}  // namespace edgeopt
