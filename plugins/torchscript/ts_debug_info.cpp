// See ts_debug_info.h. The layouts are those LibTorch 1.13's
// ConcreteSourceRangeUnpickler and SourceRangeDeserializer read:
//   ("FORMAT_WITH_STRING_TABLE", (str, ...), records)  or  records,
//   records = ((byte offset in the code, range, debug handle), ...),
//   range = (source, start, end), source = ([text table index, ...],
//   file name's index, first line) with the table, (text, file name or None,
//   first line) without. LibTorch indexes the table unchecked (SIGSEGV).
#include "ts_debug_info.h"

#include <ATen/core/ivalue.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <algorithm>
#include <cctype>
#include <optional>

namespace edgeopt::torchscript::detail {
namespace {

using c10::IValue;

using Elements = c10::ArrayRef<IValue>;

// A tuple's elements when `v` is a tuple of at least `at_least`.
std::optional<Elements> tupleOf(const IValue& v, size_t at_least) {
  if (!v.isTuple() || v.toTupleRef().elements().size() < at_least) return std::nullopt;
  return v.toTupleRef().elements().asArrayRef();
}

std::optional<int64_t> intOf(const IValue& v) {
  if (!v.isInt()) return std::nullopt;
  return v.toInt();
}

// The text, file name and first line of a `source`, nullopt when malformed.
struct Source {
  std::string text, file;
  int64_t first_line = 0;
};

std::optional<Source> sourceOf(const IValue& v, const std::optional<Elements>& table) {
  const auto s = tupleOf(v, 3);
  const auto first_line = s ? intOf((*s)[2]) : std::nullopt;
  if (!first_line) return std::nullopt;
  Source out;
  out.first_line = *first_line;
  if (!table) {
    if (!(*s)[0].isString() || !((*s)[1].isString() || (*s)[1].isNone())) return std::nullopt;
    out.text = (*s)[0].toStringRef();
    if ((*s)[1].isString()) out.file = (*s)[1].toStringRef();
    return out;
  }
  auto entry = [&](const IValue& index) -> const std::string* {
    const auto i = intOf(index);
    if (!i || *i < 0 || static_cast<uint64_t>(*i) >= table->size() || !(*table)[*i].isString()) return nullptr;
    return &(*table)[*i].toStringRef();
  };
  const std::string* file = entry((*s)[1]);
  if (!file || !(*s)[0].isList()) return std::nullopt;
  out.file = *file;
  for (const IValue& index : (*s)[0].toListRef()) {
    const std::string* piece = entry(index);
    if (!piece) return std::nullopt;
    out.text += *piece;
  }
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string DebugInfo::originOf(const std::string& code_record, size_t offset) const {
  const auto it = pickles_.find(lower(code_record));
  if (it == pickles_.end()) return "";
  IValue pickle;
  try {
    pickle = torch::jit::unpickle(it->second.data(), it->second.size());
  } catch (const std::exception&) {
    return "";
  }
  std::optional<Elements> table;
  const IValue* records = &pickle;
  if (const auto top = tupleOf(pickle, 3);
      top && (*top)[0].isString() && (*top)[0].toStringRef() == "FORMAT_WITH_STRING_TABLE") {
    table = tupleOf((*top)[1], 0);
    if (!table) return "";
    records = &(*top)[2];
  }
  const auto list = tupleOf(*records, 0);
  if (!list) return "";
  // The last record at or before `offset` (LibTorch: upper_bound, minus one).
  const IValue* range = nullptr;
  int64_t best = -1;
  for (const IValue& r : *list) {
    const auto record = tupleOf(r, 2);
    const auto at = record ? intOf((*record)[0]) : std::nullopt;
    if (!at) return "";
    if (*at >= best && static_cast<uint64_t>(*at) <= offset) best = *at, range = &(*record)[1];
  }
  const auto fields = range ? tupleOf(*range, 3) : std::nullopt;
  const auto start = fields ? intOf((*fields)[1]) : std::nullopt;
  const auto source = fields ? sourceOf((*fields)[0], table) : std::nullopt;
  if (!start || !source || *start < 0 || static_cast<uint64_t>(*start) > source->text.size()) return "";
  // Source::lineno_for_offset: the lines that start at or before `start`.
  const int64_t line = source->first_line + std::count(source->text.begin(), source->text.begin() + *start, '\n');
  std::string file = source->file;
  if (const size_t slash = file.rfind('/'); slash != std::string::npos) file = file.substr(slash + 1);
  if (file.empty()) return "";
  return file + ":" + std::to_string(line);
}

}  // namespace edgeopt::torchscript::detail
