#pragma once
// ConfigNode: a YAML document tree in which every value remembers where it was
// written (file:line:column, or the --set flag that produced it), so that any
// error found later — by the recipe validator, a stage or a plugin — can point
// at the exact place to fix.
#include <edgeopt/error.h>

#include <string>
#include <vector>

namespace edgeopt {

struct SourceLocation {
  std::string file;  // recipe path, or the origin text when line == 0 ("--set a.b=1")
  int line = 0;      // 1-based; 0 = no position in a file
  int column = 0;    // 1-based

  bool hasPosition() const { return line > 0; }
  // "file:line:col", or just `file` when there is no position.
  std::string str() const;
};

// A recipe problem: prints as "file:line:col: key.path: message".
class RecipeError : public Error {
 public:
  RecipeError(SourceLocation loc, std::string key, std::string message);
  const SourceLocation& location() const { return loc_; }
  const std::string& key() const { return key_; }
  const std::string& message() const { return message_; }

 private:
  SourceLocation loc_;
  std::string key_, message_;
};

class ConfigNode {
 public:
  enum class Kind { Null, Scalar, Sequence, Map };
  struct Entry;

  ConfigNode() = default;
  static ConfigNode scalar(std::string value, SourceLocation loc);
  static ConfigNode sequence(SourceLocation loc);
  static ConfigNode map(SourceLocation loc);

  // Parses YAML text; syntax errors become RecipeError at the offending mark.
  static ConfigNode parse(const std::string& text, const std::string& file);
  static ConfigNode loadFile(const std::string& path);

  Kind kind() const { return kind_; }
  bool isNull() const { return kind_ == Kind::Null; }
  bool isScalar() const { return kind_ == Kind::Scalar; }
  bool isSequence() const { return kind_ == Kind::Sequence; }
  bool isMap() const { return kind_ == Kind::Map; }
  const SourceLocation& location() const { return loc_; }
  void setLocation(SourceLocation loc) { loc_ = std::move(loc); }

  const std::string& value() const { return scalar_; }  // scalar text
  void setValue(std::string v) { scalar_ = std::move(v); }
  bool quoted() const { return quoted_; }  // written as a quoted string in YAML

  // Sequence access.
  const std::vector<ConfigNode>& items() const { return items_; }
  std::vector<ConfigNode>& items() { return items_; }
  void push(ConfigNode n) { items_.push_back(std::move(n)); }

  // Map access; entries keep the order they were written in.
  const std::vector<Entry>& entries() const { return entries_; }
  std::vector<Entry>& entries() { return entries_; }
  const ConfigNode* find(const std::string& key) const;
  ConfigNode* find(const std::string& key);
  const Entry* findEntry(const std::string& key) const;
  // Inserts or replaces `key`.
  ConfigNode& set(const std::string& key, ConfigNode value, SourceLocation key_loc = {});
  bool erase(const std::string& key);

  // A short description for messages: "a map", "a list", "\"abc\"", "nothing".
  std::string describe() const;
  // Block-style YAML of this tree (used for the resolved recipe).
  std::string toYaml() const;

 private:
  Kind kind_ = Kind::Null;
  SourceLocation loc_;
  std::string scalar_;
  bool quoted_ = false;
  std::vector<ConfigNode> items_;
  std::vector<Entry> entries_;
  friend struct ConfigNodeBuilder;
};

struct ConfigNode::Entry {
  std::string key;
  SourceLocation key_location;
  ConfigNode value;
};

// Joins a key path for messages: joinKey("stages.1", "lr") == "stages.1.lr".
std::string joinKey(const std::string& parent, const std::string& child);

}  // namespace edgeopt
