// The zip half of the TorchScript archive check (torchscript_archive_check.h):
// the central directory read as miniz 2.1 (LibTorch 1.13's zip reader) reads
// it, so the entries checked here are the ones LibTorch extracts, and the
// central directory without the debug records that LibTorch reads instead.
#include "torchscript_archive_check.h"

#include <edgeopt/error.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <map>
#include <vector>

#include "torchscript_code_check.h"
#include "torchscript_pickle_check.h"

namespace edgeopt::torchscript {
namespace {

constexpr uint32_t kEndOfCentralDir = 0x06054b50, kZip64Locator = 0x07064b50, kZip64EndOfCentralDir = 0x06064b50,
                   kCentralHeader = 0x02014b50, kLocalHeader = 0x04034b50;
constexpr uint64_t kEndSize = 22, kZip64LocatorSize = 20, kZip64EndSize = 56, kCentralSize = 46, kLocalSize = 30;
constexpr uint32_t kMax32 = 0xffffffff;

uint64_t le(const std::string& b, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Entry {
  std::string name;
  uint64_t flags = 0, method = 0, compressed = 0, uncompressed = 0, local_header = 0, data = 0;
  std::string header;  // its central directory header, as the file has it
};

void putLe(std::string& b, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

class ArchiveCheck {
 public:
  ArchiveCheck(const std::string& path, uint64_t memory_available)
      : path_(path), memory_(memory_available), in_(path, std::ios::binary) {}

  CheckedArchive run() {
    if (!in_) throw InputError(path_ + ": cannot open the file");
    in_.seekg(0, std::ios::end);
    size_ = static_cast<uint64_t>(in_.tellg());
    readCentralDirectory();
    uint64_t total = 0;
    for (Entry& e : entries_) {
      if (isDebugRecord(e.name)) continue;  // LibTorch does not see them (below)
      checkEntry(e);
      total += e.uncompressed;  // both at most memory_ (checkEntry), so no overflow
      if (total > memory_) throw tooLarge("its records declare " + std::to_string(total) + " bytes in all");
      auto [it, added] = record_bytes_.emplace(lower(e.name), e.uncompressed);
      if (!added) it->second = std::min(it->second, e.uncompressed);  // miniz finds names case-insensitively
    }
    for (const Entry& e : entries_) {
      const std::string name = lower(e.name);
      if (isDebugRecord(name)) continue;
      // A storage record referenced twice is read (allocated) twice.
      if (endsWith(name, "/data.pkl") || endsWith(name, "/constants.pkl")) total += checkPickleEntry(e, total);
      if (name.find("/code/") != std::string::npos && endsWith(name, ".py")) checkCode(e);
    }
    CheckedArchive out;
    out.file_size = size_;
    for (Entry& e : entries_)
      if (isDebugRecord(e.name)) readDebugInfo(e, total, out.debug_info);
    out.central_directory = centralDirectoryWithoutDebugInfo();
    return out;
  }

 private:
  [[noreturn]] void malformed(const std::string& what) const {
    throw InputError(path_ + ": not a readable TorchScript file: " + what);
  }
  InputError tooLarge(const std::string& what) const {
    return InputError(path_ + ": not a readable TorchScript file: " + what + ", more than the " +
                      std::to_string(memory_) + " bytes of memory available");
  }

  std::string read(uint64_t offset, uint64_t n, const char* what) {
    if (offset > size_ || n > size_ - offset)
      malformed(std::string(what) + " at bytes " + std::to_string(offset) + ".." + std::to_string(offset + n) +
                " is past the end of the " + std::to_string(size_) + "-byte file");
    std::string b(n, '\0');
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
    if (!in_.read(b.data(), static_cast<std::streamsize>(n))) malformed(std::string("cannot read ") + what);
    return b;
  }

  // miniz takes the last end-of-central-directory signature with 22 bytes after it.
  uint64_t findEndOfCentralDir() {
    if (size_ < kEndSize) malformed("not a zip archive (" + std::to_string(size_) + " bytes)");
    const uint64_t window = std::min<uint64_t>(size_, 0xffff + kEndSize);
    const std::string tail = read(size_ - window, window, "the end of the file");
    for (uint64_t i = window - kEndSize + 1; i-- > 0;)
      if (le(tail, i, 4) == kEndOfCentralDir) return size_ - window + i;
    malformed("not a zip archive (no end-of-central-directory record)");
  }

  void readCentralDirectory() {
    const uint64_t end_at = findEndOfCentralDir();
    const std::string end = read(end_at, kEndSize, "the end-of-central-directory record");
    uint64_t this_disk = le(end, 4, 2), dir_disk = le(end, 6, 2), on_disk = le(end, 8, 2), total = le(end, 10, 2);
    uint64_t dir_size = le(end, 12, 4), dir_at = le(end, 16, 4);
    if (end_at >= kZip64LocatorSize + kZip64EndSize) {
      const std::string locator = read(end_at - kZip64LocatorSize, kZip64LocatorSize, "the zip64 locator");
      if (le(locator, 0, 4) == kZip64Locator) {
        const uint64_t at = le(locator, 8, 8);
        if (at > size_ - kZip64EndSize) malformed("the zip64 end record's offset is past the end of the file");
        const std::string end64 = read(at, kZip64EndSize, "the zip64 end record");
        if (le(end64, 0, 4) == kZip64EndOfCentralDir) {
          this_disk = le(end64, 16, 4), dir_disk = le(end64, 20, 4), on_disk = le(end64, 24, 8);
          total = le(end64, 32, 8), dir_size = le(end64, 40, 8), dir_at = le(end64, 48, 8);
        }
      }
    }
    if (total != on_disk || (this_disk | dir_disk) != 0) malformed("a multi-disk zip archive");
    if (total == 0) malformed("an empty zip archive");
    if (dir_size / kCentralSize < total)
      malformed("the central directory's " + std::to_string(dir_size) + " bytes cannot hold its " +
                std::to_string(total) + " entries");
    const std::string dir = read(dir_at, dir_size, "the central directory");
    uint64_t p = 0;
    for (uint64_t i = 0; i < total; ++i) {
      if (dir_size - p < kCentralSize || le(dir, p, 4) != kCentralHeader)
        malformed("central directory entry " + std::to_string(i) + " is not a file header");
      Entry e;
      e.flags = le(dir, p + 8, 2), e.method = le(dir, p + 10, 2);
      e.compressed = le(dir, p + 20, 4), e.uncompressed = le(dir, p + 24, 4), e.local_header = le(dir, p + 42, 4);
      const uint64_t name_len = le(dir, p + 28, 2), extra_len = le(dir, p + 30, 2), comment_len = le(dir, p + 32, 2);
      if (kCentralSize + name_len + extra_len + comment_len > dir_size - p)
        malformed("central directory entry " + std::to_string(i) + " runs past the directory");
      e.name = dir.substr(p + kCentralSize, name_len);
      e.header = dir.substr(p, kCentralSize + name_len + extra_len + comment_len);
      if (std::max({e.compressed, e.uncompressed, e.local_header}) == kMax32)
        readZip64Fields(dir.substr(p + kCentralSize + name_len, extra_len), e);
      entries_.push_back(std::move(e));
      p += kCentralSize + name_len + extra_len + comment_len;
    }
  }

  // The zip64 extra field replaces the 32-bit fields that are 0xffffffff, in this order.
  void readZip64Fields(const std::string& extra, Entry& e) {
    for (uint64_t p = 0; p < extra.size();) {
      if (extra.size() - p < 4) malformed("'" + e.name + "': truncated extra field");
      const uint64_t id = le(extra, p, 2), n = le(extra, p + 2, 2);
      if (n > extra.size() - p - 4) malformed("'" + e.name + "': extra field past its end");
      if (id == 1) {
        uint64_t q = p + 4, left = n;
        for (uint64_t* field : {&e.uncompressed, &e.compressed, &e.local_header}) {
          if (*field != kMax32) continue;
          if (left < 8) malformed("'" + e.name + "': zip64 field too short");
          *field = le(extra, q, 8), q += 8, left -= 8;
        }
        return;
      }
      p += 4 + n;
    }
  }

  void checkEntry(Entry& e) {
    const std::string name = "record '" + e.name + "'";
    if (e.flags & (1 | 32 | 64)) malformed(name + " is encrypted or a patch");
    if (e.method != 0 && e.method != 8)
      malformed(name + " uses compression method " + std::to_string(e.method) + " (LibTorch reads stored and deflate)");
    if (e.method == 0 && e.compressed != e.uncompressed)
      malformed(name + " is stored with " + std::to_string(e.compressed) + " bytes but declares " +
                std::to_string(e.uncompressed));
    if (e.method == 8 && e.uncompressed / kMaxDeflateRatio > e.compressed)
      malformed(name + " declares " + std::to_string(e.uncompressed) + " bytes from " + std::to_string(e.compressed) +
                " compressed, more than deflate expands");
    if (e.uncompressed > memory_) throw tooLarge(name + " declares " + std::to_string(e.uncompressed) + " bytes");
    const std::string local = read(e.local_header, kLocalSize, (name + ": its local header").c_str());
    if (le(local, 0, 4) != kLocalHeader)
      malformed(name + ": no local header at offset " + std::to_string(e.local_header));
    const uint64_t data = e.local_header + kLocalSize + le(local, 26, 2) + le(local, 28, 2);
    if (data > size_ || e.compressed > size_ - data)
      malformed(name + ": " + std::to_string(e.compressed) + " bytes at offset " + std::to_string(data) +
                " run past the end of the " + std::to_string(size_) + "-byte file");
    e.data = data;
  }

  void checkCode(const Entry& e) {
    if (std::string problem = detail::codeProblem(contents(e), e.name); !problem.empty())
      malformed("record '" + e.name + "' " + problem);
  }

  std::string contents(const Entry& e) {
    std::string raw = read(e.data, e.compressed, ("record '" + e.name + "'").c_str());
    if (e.method == 0) return raw;
    std::string out(e.uncompressed, '\0');
    z_stream z{};
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) malformed("cannot inflate '" + e.name + "'");
    z.next_in = reinterpret_cast<Bytef*>(raw.data());
    z.avail_in = static_cast<uInt>(raw.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    inflate(&z, Z_FINISH);
    const uint64_t produced = z.total_out;
    inflateEnd(&z);
    // miniz fills the declared size and keeps it when the stream holds more.
    // A corrupt stream it leaves without an error, and LibTorch reads the
    // rest of the buffer uninitialized: no check could vouch for those bytes.
    if (produced != e.uncompressed)
      malformed("record '" + e.name + "' inflates to " + std::to_string(produced) + " of its declared " +
                std::to_string(e.uncompressed) + " bytes");
    return out;
  }

  // Checks one pickle; returns the bytes its storage references read beyond
  // each record's first read (already counted).
  uint64_t checkPickleEntry(const Entry& e, uint64_t total_so_far) {
    const std::string n = lower(e.name);
    std::string storage_dir;  // data.pkl's storages are in data/, constants.pkl's in constants/
    if (endsWith(n, "/data.pkl") || endsWith(n, "/constants.pkl")) storage_dir = n.substr(0, n.size() - 4) + "/";
    detail::RecordBytes record_bytes;
    if (!storage_dir.empty())
      record_bytes = [&](const std::string& key) -> std::optional<uint64_t> {
        auto it = record_bytes_.find(storage_dir + lower(key));
        if (it == record_bytes_.end()) return std::nullopt;
        return it->second;
      };
    std::map<std::string, uint64_t> reads;
    try {
      reads = detail::checkPickle(contents(e), record_bytes);
    } catch (const detail::PickleProblem& p) {
      malformed("'" + e.name + "' at byte " + std::to_string(p.offset) + ": " + p.what);
    }
    uint64_t extra = 0;
    for (const auto& [key, times] : reads) {
      const unsigned __int128 again = static_cast<unsigned __int128>(times - 1) * record_bytes(key).value_or(0);
      if (again + total_so_far + extra > memory_)
        throw tooLarge("'" + e.name + "' reads storage '" + key + "' " + std::to_string(times) + " times");
      extra += static_cast<uint64_t>(again);
    }
    return extra;
  }

  // A debug record the importer reads for its messages: kept when it is a
  // pickle the unpickler can read within the memory left, else dropped (the
  // messages then name the serialized code), never an error.
  void readDebugInfo(Entry& e, uint64_t& total, std::map<std::string, std::string>& out) {
    std::string bytes;
    try {
      checkEntry(e);
      if (e.uncompressed > memory_ - total) return;
      bytes = contents(e);
      detail::checkPickle(bytes, nullptr);
    } catch (const InputError&) {
      return;
    } catch (const detail::PickleProblem&) {
      return;
    }
    total += e.uncompressed;
    const size_t folder = e.name.find('/');  // the archive's folder ("model/")
    std::string code = folder == std::string::npos ? e.name : e.name.substr(folder + 1);
    code.resize(code.size() - std::strlen(".debug_pkl"));
    out.emplace(lower(code), std::move(bytes));
  }

  // The central directory miniz reads instead of the file's: the same headers
  // (pointing at the same local headers and data) but the debug records'.
  // Always zip64 (an end record and its locator before the classic one), so
  // the 20 bytes before the end record are this function's, not the last
  // header's name: miniz takes a locator signature there as zip64.
  std::string centralDirectoryWithoutDebugInfo() const {
    std::string dir;
    uint64_t count = 0;
    for (const Entry& e : entries_)
      if (!isDebugRecord(e.name)) dir += e.header, ++count;
    const uint64_t dir_at = size_, end64_at = size_ + dir.size(), dir_size = dir.size();
    std::string& b = dir;
    putLe(b, kZip64EndOfCentralDir, 4);
    putLe(b, kZip64EndSize - 12, 8);   // the size of the rest of the record
    putLe(b, 45, 2), putLe(b, 45, 2);  // made by, needed: zip 4.5 (zip64)
    putLe(b, 0, 4), putLe(b, 0, 4);    // this disk, the directory's disk
    putLe(b, count, 8), putLe(b, count, 8), putLe(b, dir_size, 8), putLe(b, dir_at, 8);
    putLe(b, kZip64Locator, 4);
    putLe(b, 0, 4), putLe(b, end64_at, 8), putLe(b, 1, 4);  // disk, where the zip64 end record is, disks
    putLe(b, kEndOfCentralDir, 4);
    putLe(b, 0, 2), putLe(b, 0, 2);
    putLe(b, std::min<uint64_t>(count, 0xffff), 2), putLe(b, std::min<uint64_t>(count, 0xffff), 2);
    putLe(b, std::min<uint64_t>(dir_size, kMax32), 4), putLe(b, std::min<uint64_t>(dir_at, kMax32), 4);
    putLe(b, 0, 2);  // no comment
    return b;
  }

  const std::string& path_;
  const uint64_t memory_;
  std::ifstream in_;
  uint64_t size_ = 0;
  std::vector<Entry> entries_;
  std::map<std::string, uint64_t> record_bytes_;  // lower-case name -> smallest declared size
};

}  // namespace

CheckedArchive checkTorchScriptArchive(const std::string& path, uint64_t memory_available) {
  return ArchiveCheck(path, memory_available).run();
}

bool isDebugRecord(const std::string& name) { return endsWith(lower(name), ".debug_pkl"); }

}  // namespace edgeopt::torchscript
