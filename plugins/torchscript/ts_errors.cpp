// Error collection: every unsupported construct is recorded with the first
// place it occurs, and the import fails once, listing them all, so one run
// tells the user everything the model needs.
#include "ts_import_internal.h"

#include <edgeopt/error.h>

namespace edgeopt::torchscript::detail {

std::string Importer::where(const jit::Node* n) const {
  const std::string& path = frames_[frame_].path;
  std::string w = path.empty() ? "the top-level module" : "'" + path + "'";
  std::string src = sourceOf(n, debug_info_.get());
  if (!src.empty()) w += " (" + src + ")";
  return w;
}

void Importer::unsupported(const jit::Node* n, const std::string& reason) {
  reported_.insert(n);
  std::string kind = n->kind().toQualString();
  for (auto& [k, _] : unsupported_)
    if (k == kind) return;
  unsupported_.emplace_back(kind, where(n) + (reason.empty() ? "" : ": " + reason));
}

void Importer::throwIfUnsupported() const {
  if (unsupported_.empty()) return;
  std::string msg = opt_.path + ": unsupported TorchScript operations (EdgeOpt's IR has no equivalent): ";
  for (size_t i = 0; i < unsupported_.size(); ++i)
    msg += (i ? "; " : "") + unsupported_[i].first + " at " + unsupported_[i].second;
  throw InputError(msg);
}

}  // namespace edgeopt::torchscript::detail
