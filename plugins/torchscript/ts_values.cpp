// Symbolic values: what they contain, readers for constant arguments, and the
// names and source locations used in node names and error messages.
#include "ts_import_internal.h"

namespace edgeopt::torchscript::detail {

bool tensorLike(const SVal& s) {
  if (s.kind == SVal::Kind::Tensor || s.kind == SVal::Kind::Transposed) return true;
  if (s.kind == SVal::Kind::List || s.kind == SVal::Kind::Tuple)
    for (auto& e : *s.elems)
      if (tensorLike(e)) return true;
  return false;
}

bool poisoned(const SVal& s) {
  if (s.kind == SVal::Kind::Tensor) return s.cell->poison;
  if (s.kind == SVal::Kind::Dynamic) return s.tainted;
  if (s.kind == SVal::Kind::List || s.kind == SVal::Kind::Tuple)
    for (auto& e : *s.elems)
      if (poisoned(e)) return true;
  return false;
}

bool hasDynamic(const SVal& s) {
  if (s.kind == SVal::Kind::Dynamic) return true;
  if (s.kind == SVal::Kind::List || s.kind == SVal::Kind::Tuple)
    for (auto& e : *s.elems)
      if (hasDynamic(e)) return true;
  return false;
}

bool typeHasTensor(const c10::TypePtr& t) {
  if (t->kind() == c10::TypeKind::TensorType) return true;
  for (const auto& c : t->containedTypes())
    if (typeHasTensor(c)) return true;
  return false;
}

// "file.py:line" of the node: the model's Python source when the file keeps
// debug info the importer can read (ts_debug_info.h), else the serialized
// code inside the archive (LibTorch is not given the debug info).
std::string sourceOf(const jit::Node* n, const DebugInfo* debug_info) {
  const jit::SourceRange& range = n->sourceRange();
  if (debug_info && range.source() && range.source()->filename())
    if (std::string origin = debug_info->originOf(*range.source()->filename(), range.start()); !origin.empty())
      return origin;
  if (auto flc = range.file_line_col()) {
    std::string file = std::get<0>(*flc);
    auto slash = file.rfind('/');
    if (slash != std::string::npos) file = file.substr(slash + 1);
    if (!file.empty()) return file + ":" + std::to_string(std::get<1>(*flc));
  }
  return "";
}

// The first line with text (LibTorch's ErrorReport messages start with a newline).
std::string firstLine(const std::string& s) {
  const size_t start = s.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return "";
  const size_t nl = s.find('\n', start);
  return s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
}

std::string typeBaseName(const c10::ClassTypePtr& t) {
  if (!t || !t->name()) return "";
  return t->name()->name();  // last component: "___torch_mangle_3.Conv2d" -> "Conv2d"
}

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// An in-place ATen op ("relu_"), not a dunder ("__is__").
bool isInplaceName(const std::string& base) {
  return base.size() > 1 && base.back() == '_' && base.rfind("__", 0) != 0;
}

// ---------------------------------------------------------------------------
// Readers for constant arguments

std::optional<int64_t> asInt(const SVal& s) {
  if (s.isConst() && s.iv.isInt()) return s.iv.toInt();
  if (s.isConst() && s.iv.isBool()) return s.iv.toBool() ? 1 : 0;
  return std::nullopt;
}
std::optional<double> asDouble(const SVal& s) {
  if (!s.isConst()) return std::nullopt;
  if (s.iv.isDouble()) return s.iv.toDouble();
  if (s.iv.isInt()) return static_cast<double>(s.iv.toInt());
  if (s.iv.isBool()) return s.iv.toBool() ? 1.0 : 0.0;
  if (s.iv.isTensor() && s.iv.toTensor().numel() == 1 && s.iv.toTensor().dim() == 0)
    return s.iv.toTensor().item<double>();
  return std::nullopt;
}
std::optional<bool> asBool(const SVal& s) {
  if (s.isConst() && s.iv.isBool()) return s.iv.toBool();
  if (s.isConst() && s.iv.isInt()) return s.iv.toInt() != 0;
  return std::nullopt;
}
std::optional<Ints> asInts(const SVal& s) {
  if (!s.isConst()) return std::nullopt;
  if (s.iv.isIntList()) return s.iv.toIntVector();
  if (s.iv.isInt()) return Ints{s.iv.toInt()};
  return std::nullopt;
}
std::optional<std::string> asString(const SVal& s) {
  if (s.isConst() && s.iv.isString()) return s.iv.toStringRef();
  return std::nullopt;
}
// A Python number as an IR scalar operand (`other`).
std::optional<double> asNumber(const SVal& s) {
  if (!s.isConst()) return std::nullopt;
  if (s.iv.isDouble() || s.iv.isInt()) return asDouble(s);
  return std::nullopt;
}

}  // namespace edgeopt::torchscript::detail
