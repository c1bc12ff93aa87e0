#include <edgeopt/config.h>
#include <edgeopt/fileutil.h>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <sstream>
#include <vector>

namespace edgeopt {

std::string SourceLocation::str() const {
  if (!hasPosition()) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

static std::string formatRecipeError(const SourceLocation& loc, const std::string& key,
                                     const std::string& message) {
  std::string out = loc.str();
  if (!key.empty()) out += (out.empty() ? "" : ": ") + key;
  return out + (out.empty() ? "" : ": ") + message;
}

RecipeError::RecipeError(SourceLocation loc, std::string key, std::string message)
    : Error(ExitCode::Recipe, formatRecipeError(loc, key, message)),
      loc_(std::move(loc)), key_(std::move(key)), message_(std::move(message)) {}

std::string joinKey(const std::string& parent, const std::string& child) {
  return parent.empty() ? child : parent + "." + child;
}

ConfigNode ConfigNode::scalar(std::string value, SourceLocation loc) {
  ConfigNode n;
  n.kind_ = Kind::Scalar;
  n.scalar_ = std::move(value);
  n.loc_ = std::move(loc);
  return n;
}

ConfigNode ConfigNode::sequence(SourceLocation loc) {
  ConfigNode n;
  n.kind_ = Kind::Sequence;
  n.loc_ = std::move(loc);
  return n;
}

ConfigNode ConfigNode::map(SourceLocation loc) {
  ConfigNode n;
  n.kind_ = Kind::Map;
  n.loc_ = std::move(loc);
  return n;
}

// Converts a yaml-cpp tree, keeping every mark (yaml-cpp marks are 0-based).
// Aliases make the yaml-cpp tree a graph: an alias inside its own anchor
// (`vars: &v {a: *v}`) is a cycle, and nested aliases expand exponentially
// (billion laughs: 454 bytes become gigabytes). The copy stops at both with a
// recipe error; a real recipe is a few levels deep and a few hundred values.
struct ConfigNodeBuilder {
  static constexpr size_t kMaxDepth = 64;
  static constexpr size_t kMaxNodes = 100000;

  std::string file;
  size_t nodes = 0;
  std::vector<YAML::Node> path;  // the nodes being copied, outermost first

  SourceLocation at(const YAML::Mark& m) const {
    if (m.is_null()) return {file, 0, 0};
    return {file, m.line + 1, m.column + 1};
  }

  void enter(const YAML::Node& y) {
    for (const auto& outer : path)
      if (outer.is(y))
        throw RecipeError(at(y.Mark()), "",
                          "recursive YAML alias: this value contains itself (an alias *name inside its own &name)");
    if (path.size() >= kMaxDepth)
      throw RecipeError(at(y.Mark()), "", "values nested more than " + std::to_string(kMaxDepth) + " levels deep");
    if (++nodes > kMaxNodes)
      throw RecipeError(at(y.Mark()), "", "more than " + std::to_string(kMaxNodes) +
                                              " values once YAML aliases are expanded (nested aliases?)");
    path.push_back(y);
  }

  ConfigNode build(const YAML::Node& y) {
    enter(y);
    ConfigNode n;
    n.loc_ = at(y.Mark());
    switch (y.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        n.kind_ = ConfigNode::Kind::Null;
        break;
      case YAML::NodeType::Scalar:
        n.kind_ = ConfigNode::Kind::Scalar;
        n.scalar_ = y.Scalar();
        n.quoted_ = y.Tag() == "!";
        break;
      case YAML::NodeType::Sequence:
        n.kind_ = ConfigNode::Kind::Sequence;
        for (const auto& item : y) n.items_.push_back(build(item));
        break;
      case YAML::NodeType::Map:
        n.kind_ = ConfigNode::Kind::Map;
        for (const auto& kv : y) {
          const SourceLocation key_loc = at(kv.first.Mark());
          if (!kv.first.IsScalar())
            throw RecipeError(key_loc, "", "map keys must be plain names");
          const std::string key = kv.first.Scalar();
          if (n.find(key))
            throw RecipeError(key_loc, key, "duplicate key (also at " + n.findEntry(key)->key_location.str() + ")");
          n.entries_.push_back({key, key_loc, build(kv.second)});
        }
        break;
    }
    path.pop_back();
    return n;
  }
};

namespace {

// Where the documents of a YAML text start, at most two (a recipe is one).
// yaml-cpp 0.7's LoadAll never ends on a document whose node starts with ','
// (a flow entry outside [ ] or { }): each pass yields an empty document
// without consuming it, until memory runs out (a 1-byte recipe "," took 22
// GB). Counting the parser's documents stops after the second.
struct DocumentStarts : YAML::EventHandler {
  std::vector<YAML::Mark> marks;  // of each document's root node
  bool in_root = false;
  void root(const YAML::Mark& mark) {
    if (in_root) marks.push_back(mark);
    in_root = false;
  }
  void OnDocumentStart(const YAML::Mark&) override { in_root = true; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { root(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { root(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override { root(mark); }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    root(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    root(mark);
  }
  void OnMapEnd() override {}
};

}  // namespace

ConfigNode ConfigNode::parse(const std::string& text, const std::string& file) {
  YAML::Node doc;
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentStarts starts;
    while (starts.marks.size() < 2 && parser.HandleNextDocument(starts)) {
    }
    if (starts.marks.size() > 1) {
      const YAML::Mark& second = starts.marks[1];
      const bool comma = second.pos >= 0 && static_cast<size_t>(second.pos) < text.size() && text[second.pos] == ',';
      // yaml-cpp's Load would silently keep the first of several documents.
      throw RecipeError(ConfigNodeBuilder{file}.at(second), "",
                        comma ? "invalid YAML: ',' outside [ ] or { }"
                              : "a second YAML document (after '---'); a recipe is one document");
    }
    doc = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw RecipeError(ConfigNodeBuilder{file}.at(e.mark), "", "invalid YAML: " + e.msg);
  }
  return ConfigNodeBuilder{file}.build(doc);
}

ConfigNode ConfigNode::loadFile(const std::string& path) {
  std::string text;
  try {
    text = readFile(path);
  } catch (const InputError& e) {
    throw RecipeError({path, 0, 0}, "", "cannot read the recipe: " + std::string(e.what()).substr(path.size() + 2));
  }
  return parse(text, path);
}

const ConfigNode::Entry* ConfigNode::findEntry(const std::string& key) const {
  for (const auto& e : entries_)
    if (e.key == key) return &e;
  return nullptr;
}

const ConfigNode* ConfigNode::find(const std::string& key) const {
  const Entry* e = findEntry(key);
  return e ? &e->value : nullptr;
}

ConfigNode* ConfigNode::find(const std::string& key) {
  return const_cast<ConfigNode*>(static_cast<const ConfigNode*>(this)->find(key));
}

ConfigNode& ConfigNode::set(const std::string& key, ConfigNode value, SourceLocation key_loc) {
  if (kind_ != Kind::Map) {
    kind_ = Kind::Map;
    items_.clear();
    scalar_.clear();
  }
  for (auto& e : entries_)
    if (e.key == key) {
      e.value = std::move(value);
      return e.value;
    }
  entries_.push_back({key, std::move(key_loc), std::move(value)});
  return entries_.back().value;
}

bool ConfigNode::erase(const std::string& key) {
  for (auto it = entries_.begin(); it != entries_.end(); ++it)
    if (it->key == key) {
      entries_.erase(it);
      return true;
    }
  return false;
}

std::string ConfigNode::describe() const {
  switch (kind_) {
    case Kind::Null: return "nothing";
    case Kind::Scalar: return "\"" + scalar_ + "\"";
    case Kind::Sequence: return "a list";
    case Kind::Map: return "a map";
  }
  return "?";
}

static void emit(YAML::Emitter& out, const ConfigNode& n) {
  switch (n.kind()) {
    case ConfigNode::Kind::Null: out << YAML::Null; break;
    case ConfigNode::Kind::Scalar:
      if (n.quoted()) out << YAML::DoubleQuoted << n.value();
      else out << n.value();
      break;
    case ConfigNode::Kind::Sequence: {
      bool flat = true;  // short lists of scalars read best inline: [1, 3, 32, 32]
      for (const auto& i : n.items()) flat = flat && i.isScalar();
      if (flat) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (const auto& i : n.items()) emit(out, i);
      out << YAML::EndSeq;
      break;
    }
    case ConfigNode::Kind::Map:
      out << YAML::BeginMap;
      for (const auto& e : n.entries()) {
        out << YAML::Key << e.key << YAML::Value;
        emit(out, e.value);
      }
      out << YAML::EndMap;
      break;
  }
}

std::string ConfigNode::toYaml() const {
  YAML::Emitter out;
  emit(out, *this);
  return std::string(out.c_str()) + "\n";
}

}  // namespace edgeopt
