#include <edgeopt/data_loader.h>
#include <edgeopt/transforms.h>
#include <edgeopt/recipe.h>
#include <edgeopt/stage.h>

#include "text_util.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>

namespace fs = std::filesystem;

namespace edgeopt {
namespace {


OptionSchema topLevelSchema() {
  OptionSchema s;
  s.add("version", OptionType::Int).required().range(kRecipeVersion, kRecipeVersion).help("recipe format version, 1");
  s.add("name", OptionType::String).required().help("run name, used for the run directory");
  s.add("seed", OptionType::Int).defaultValue(int64_t{0}).atLeast(0).help("random seed");
  s.add("deterministic", OptionType::Bool).defaultValue(false).help("use deterministic algorithms only");
  s.add("threads", OptionType::Int).defaultValue(int64_t{0}).range(0, 4096).help("intra-op threads, 0 = all cores");
  s.add("vars", OptionType::Map).help("values for ${vars.NAME}");
  s.add("plugins", OptionType::StringList).help("plugin libraries to load, relative to the recipe");
  s.add("model", OptionType::Map).required().help("model source and its options");
  s.add("data", OptionType::Map).help("dataset and its options");
  s.add("output", OptionType::Map).help("output settings (root)");
  return s;
}

void relocate(ConfigNode& n, const SourceLocation& loc) {
  n.setLocation(loc);
  for (auto& item : n.items()) relocate(item, loc);
  for (auto& e : n.entries()) {
    e.key_location = loc;
    relocate(e.value, loc);
  }
}

std::vector<std::string> splitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    parts.push_back(path.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

bool isIndex(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// ${vars.NAME}: a scalar that is exactly one reference takes the variable's
// value (which may be a list or map); references inside longer text are
// replaced by the variable's text.
const std::regex kVarRef(R"(\$\{vars\.([A-Za-z_][A-Za-z0-9_]*)\})");

// A reference chain longer than this is a mistake (or a cycle through --set).
constexpr size_t kMaxVarChain = 32;

// The variables with their own ${vars.X} references resolved, each once, on
// first use, in any order; a cycle or an over-long chain is an error naming it.
class VarResolver {
 public:
  explicit VarResolver(const ConfigNode* vars) : vars_(vars) {}

  // The value of `name`, referenced by `at` (recipe key `key`).
  const ConfigNode& get(const std::string& name, const ConfigNode& at, const std::string& key) {
    if (auto it = done_.find(name); it != done_.end()) return it->second;
    const ConfigNode* v = vars_ ? vars_->find(name) : nullptr;
    if (!v) {
      std::vector<std::string> known;
      if (vars_)
        for (const auto& e : vars_->entries()) known.push_back(e.key);
      throw RecipeError(at.location(), key,
                        "undefined variable '" + name + "'" + didYouMean(name, known) +
                            " (define it under vars:, or --set vars." + name + "=...)");
    }
    const bool cycle = std::find(chain_.begin(), chain_.end(), name) != chain_.end();
    if (cycle || chain_.size() >= kMaxVarChain) {
      std::string path;
      for (const auto& c : chain_) path += "vars." + c + " -> ";
      throw RecipeError(at.location(), key,
                        (cycle ? "variables refer to each other in a cycle: "
                               : "variables refer to each other more than " + std::to_string(kMaxVarChain) +
                                     " deep: ") +
                            path + "vars." + name);
    }
    chain_.push_back(name);
    ConfigNode value = *v;
    substitute(value, "vars." + name);
    chain_.pop_back();
    return done_.emplace(name, std::move(value)).first->second;
  }

  void substitute(ConfigNode& n, const std::string& key) {
    if (n.isScalar() && n.value().find("${") != std::string::npos) {
      const std::string text = n.value();
      std::smatch m;
      if (std::regex_match(text, m, kVarRef)) {
        n = get(m[1].str(), n, key);
        return;
      }
      std::string out;
      auto begin = text.cbegin();
      while (std::regex_search(begin, text.cend(), m, kVarRef)) {
        const ConfigNode& v = get(m[1].str(), n, key);
        if (!v.isScalar())
          throw RecipeError(n.location(), key, "variable '" + m[1].str() + "' is " + v.describe() +
                                                   " and can't be part of a longer text");
        out += std::string(begin, m[0].first) + v.value();
        begin = m[0].second;
      }
      out += std::string(begin, text.cend());
      if (out.find("${") != std::string::npos)
        throw RecipeError(n.location(), key, "malformed substitution in \"" + text + "\" (write ${vars.NAME})");
      n.setValue(out);
      return;
    }
    for (size_t i = 0; i < n.items().size(); ++i) substitute(n.items()[i], joinKey(key, std::to_string(i)));
    for (auto& e : n.entries()) substitute(e.value, joinKey(key, e.key));
  }

 private:
  const ConfigNode* vars_;
  std::map<std::string, ConfigNode> done_;
  std::vector<std::string> chain_;  // variables being resolved, outermost first
};

// The component's name key ("source", "dataset", "kind") must name a
// registered factory; its other keys are validated against that factory.
template <class T>
ComponentConfig validateComponent(const ConfigNode& node, const std::string& key, const std::string& name_key,
                                  const Registry<T>& registry, const Recipe& recipe,
                                  void (*extend)(OptionSchema&) = nullptr) {
  const char* what = toString(KindOf<T>::value);
  if (!node.isMap()) throw RecipeError(node.location(), key, "expected a map, got " + node.describe());
  const ConfigNode* name = node.find(name_key);
  if (!name)
    throw RecipeError(node.location(), key, "missing required key '" + name_key + "' (which " + what +
                                                ": " + join(registry.names(), ", ") + ")");
  if (!name->isScalar())
    throw RecipeError(name->location(), joinKey(key, name_key), "expected a name, got " + name->describe());
  const auto* entry = registry.find(name->value());
  if (!entry)
    throw RecipeError(name->location(), joinKey(key, name_key),
                      std::string("unknown ") + what + " '" + name->value() + "'" +
                          didYouMean(name->value(), registry.names()) + " (available: " +
                          join(registry.names(), ", ") + "; a plugin may provide it: add it under plugins:)");
  ComponentConfig c;
  c.kind = name->value();
  c.key = key;
  c.location = node.location();
  c.provider = entry->provider;
  OptionSchema schema = entry->factory.options;
  if (extend) extend(schema);
  c.options = schema.validate(node, key, {name_key}, recipe.dir);
  return c;
}

}  // namespace

void applyOverride(ConfigNode& doc, const std::string& assignment) {
  const SourceLocation origin{"--set " + assignment, 0, 0};
  // A PATH that can't be followed is a bad command line (exit 2); what the
  // VALUE means is checked later with the recipe (exit 3).
  auto usage = [&](const std::string& key, const std::string& message) {
    return UsageError(origin.file + ": " + (key.empty() ? "" : key + ": ") + message);
  };
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) throw usage("", "expected PATH=VALUE, such as stages.1.epochs=3");
  const std::string path = assignment.substr(0, eq);
  ConfigNode value = ConfigNode::parse(assignment.substr(eq + 1), origin.file);
  relocate(value, origin);

  ConfigNode* cur = &doc;
  std::string key;
  const auto parts = splitPath(path);
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& part = parts[i];
    const bool last = i + 1 == parts.size();
    if (part.empty()) throw usage(path, "empty path segment");
    key = joinKey(key, part);
    if (cur->isSequence()) {
      const size_t size = cur->items().size();
      if (!isIndex(part))
        throw usage(key, "is a list; index it with a number (0.." + std::to_string(size) + ")");
      // Compared as text first: stoul would throw on 99999999999999999999.
      if (part.size() > 9 || std::stoul(part) >= size)
        throw usage(key, "index out of range: the list has " + std::to_string(size) + " entries");
      const size_t index = std::stoul(part);
      if (last) cur->items()[index] = value;
      else cur = &cur->items()[index];
    } else {
      if (!cur->isMap() && !cur->isNull()) throw usage(key, "can't set a key inside " + cur->describe());
      ConfigNode* next = cur->find(part);
      if (last) cur->set(part, value, origin);
      else cur = next ? next : &cur->set(part, ConfigNode::map(origin), origin);
    }
  }
}

Recipe loadRecipeDocument(const std::string& path, const std::vector<std::string>& sets,
                          const std::string& base_dir) {
  Recipe r;
  r.path = path;
  r.dir = base_dir.empty() ? fs::path(path).parent_path().string() : base_dir;
  if (r.dir.empty()) r.dir = ".";
  r.document = ConfigNode::loadFile(path);
  if (r.document.isNull()) throw RecipeError({path, 0, 0}, "", "the recipe is empty");
  if (!r.document.isMap())
    throw RecipeError(r.document.location(), "", "a recipe is a map of keys (version, name, model, stages, ...)");
  for (const auto& s : sets) applyOverride(r.document, s);

  // Variables may use each other: each is resolved from the recipe as written
  // (before any substitution), then the document, vars: included, takes the
  // resolved values.
  const ConfigNode written_vars = r.document.find("vars") ? *r.document.find("vars") : ConfigNode();
  VarResolver(&written_vars).substitute(r.document, "");

  const Options top = topLevelSchema().validate(r.document, "", {"stages"}, r.dir);
  r.version = static_cast<int>(top.get<int64_t>("version"));
  r.name = top.get<std::string>("name");
  if (r.name.empty() || r.name.find('/') != std::string::npos)
    top.fail("name", "must be a non-empty name without '/' (it names the run directory)");
  r.seed = static_cast<uint64_t>(top.get<int64_t>("seed"));
  r.deterministic = top.get<bool>("deterministic");
  r.threads = static_cast<int>(top.get<int64_t>("threads"));
  if (top.has("plugins")) {
    const auto& list = top.get<std::vector<std::string>>("plugins");
    const ConfigNode* node = r.document.find("plugins");
    for (size_t i = 0; i < list.size(); ++i) {
      fs::path p(list[i]);
      if (p.is_relative()) p = fs::path(r.dir) / p;
      const SourceLocation& loc = node->isSequence() ? node->items()[i].location() : node->location();
      r.plugins.emplace_back(fs::absolute(p).lexically_normal().string(), loc);
    }
  }
  if (top.has("output")) {
    OptionSchema output;
    output.add("root", OptionType::String).defaultValue(std::string("runs")).help("folder for run directories");
    r.output_root = output.validate(top.get<ConfigNode>("output"), "output").get<std::string>("root");
  }
  const ConfigNode* stages = r.document.find("stages");
  if (!stages) throw RecipeError(r.document.location(), "", "missing required key 'stages' (a list of stages)");
  if (!stages->isSequence() || stages->items().empty())
    throw RecipeError(stages->location(), "stages", "expected a non-empty list of stages, got " + stages->describe());
  return r;
}

void validateComponents(Recipe& r, const Registries& registries) {
  r.model = validateComponent(*r.document.find("model"), "model", "source", registries.of<ModelSource>(), r);
  if (const ConfigNode* data = r.document.find("data")) {
    r.data = validateComponent(*data, "data", "dataset", registries.of<Dataset>(), r, addDataLoaderOptions);
    checkTransforms(r.data->options);  // transform lists fail at validation, not when a stage starts
  }
  const auto& items = r.document.find("stages")->items();
  r.stages.clear();
  for (size_t i = 0; i < items.size(); ++i)
    r.stages.push_back(validateComponent(items[i], "stages." + std::to_string(i), "kind", registries.of<Stage>(), r));
}

}  // namespace edgeopt
