// See torchscript_archive_view.h.
#include "torchscript_archive_view.h"

#include <algorithm>
#include <cstring>

namespace edgeopt::torchscript {

ArchiveWithoutDebugInfo::ArchiveWithoutDebugInfo(const std::string& path, const CheckedArchive& checked)
    : file_(path), file_size_(checked.file_size), tail_(checked.central_directory) {}

size_t ArchiveWithoutDebugInfo::size() const { return file_size_ + tail_.size(); }

size_t ArchiveWithoutDebugInfo::read(uint64_t pos, void* buf, size_t n, const char* what) const {
  char* out = static_cast<char*>(buf);
  size_t done = 0;
  if (pos < file_size_) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(n, file_size_ - pos));
    done = file_.read(pos, out, want, what);
    if (done < want) return done;
  }
  const uint64_t at = pos + done;  // at or past the file's end here, or done == n
  if (done < n && at - file_size_ < tail_.size()) {
    const size_t more = static_cast<size_t>(std::min<uint64_t>(n - done, tail_.size() - (at - file_size_)));
    std::memcpy(out + done, tail_.data() + (at - file_size_), more);
    done += more;
  }
  return done;
}

}  // namespace edgeopt::torchscript
