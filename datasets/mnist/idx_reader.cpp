#include "idx_reader.h"

#include <edgeopt/error.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <memory>

namespace edgeopt::idx {

namespace {

// gzread() returns what it could read; callers compare with what they asked.
size_t readSome(gzFile f, const std::string& path, uint8_t* out, size_t n) {
  size_t got = 0;
  while (got < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - got, 1u << 30));
    const int r = gzread(f, out + got, chunk);
    if (r < 0) {
      int code = 0;
      throw InputError(path + ": cannot be decompressed (" + gzerror(f, &code) + ")");
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

const char* typeName(uint8_t t) {
  switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
  }
  return "unknown";
}

}  // namespace

Array read(const std::string& path, size_t ndims) {
  std::unique_ptr<gzFile_s, int (*)(gzFile)> f(gzopen(path.c_str(), "rb"), &gzclose);
  if (!f) throw InputError(path + ": cannot be opened");
  gzbuffer(f.get(), 1 << 18);
  uint8_t magic[4];
  if (readSome(f.get(), path, magic, 4) != 4) throw InputError(path + ": too short for an IDX header");
  if (magic[0] != 0 || magic[1] != 0)
    throw InputError(path + ": not an IDX file (its first bytes are not 00 00; a gzip file that lost its .gz?)");
  if (magic[2] != 0x08)
    throw InputError(path + ": holds " + typeName(magic[2]) + " values; MNIST files hold unsigned bytes (type 0x08)");
  if (magic[3] != ndims)
    throw InputError(path + ": has " + std::to_string(magic[3]) + " dimension(s), expected " + std::to_string(ndims) +
                     (ndims == 3 ? " (an images file: count, rows, columns)" : " (a labels file: count)"));
  Array a;
  a.path = path;
  size_t total = 1;
  for (size_t d = 0; d < ndims; ++d) {
    uint8_t b[4];
    if (readSome(f.get(), path, b, 4) != 4) throw InputError(path + ": truncated IDX header");
    const uint32_t n = (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | b[3];
    a.dims.push_back(n);
    total *= n;
    if (total > (size_t{1} << 34)) throw InputError(path + ": implausible sizes in the IDX header");
  }
  // The header's sizes are only a claim: a 20-byte file may announce 16 GiB.
  // Memory grows with the bytes actually read (chunks doubling from 64 KiB up
  // to 64 MiB), so a truncated file fails as truncated instead of allocating
  // its claim.
  size_t got = 0;
  while (got < total) {
    const size_t chunk = std::min({total - got, std::max<size_t>(got, size_t{1} << 16), size_t{1} << 26});
    a.data.resize(got + chunk);
    const size_t n = readSome(f.get(), path, a.data.data() + got, chunk);
    got += n;
    if (n < chunk) break;
  }
  a.data.resize(got);
  if (got != total)
    throw InputError(path + ": truncated: " + std::to_string(got) + " of " + std::to_string(total) + " data bytes");
  uint8_t extra;
  if (readSome(f.get(), path, &extra, 1) != 0)
    throw InputError(path + ": has bytes after the " + std::to_string(total) + " the header announces");
  a.crc32 = static_cast<uint32_t>(::crc32(0L, a.data.data(), static_cast<uInt>(0)));
  for (size_t off = 0; off < total; off += (1u << 30))
    a.crc32 = static_cast<uint32_t>(
        ::crc32(a.crc32, a.data.data() + off, static_cast<uInt>(std::min<size_t>(total - off, 1u << 30))));
  return a;
}

std::string find(const std::string& root, const std::string& stem) {
  const std::filesystem::path plain = std::filesystem::path(root) / stem;
  std::error_code ec;
  if (std::filesystem::is_regular_file(plain, ec)) return plain.string();
  if (std::filesystem::is_regular_file(plain.string() + ".gz", ec)) return plain.string() + ".gz";
  throw InputError(plain.string() + ": no such file (nor " + stem + ".gz)");
}

Split readSplit(const std::string& root, const std::string& prefix) {
  Split s;
  s.images = read(find(root, prefix + "-images-idx3-ubyte"), 3);
  s.labels = read(find(root, prefix + "-labels-idx1-ubyte"), 1);
  if (s.images.dims[0] != s.labels.dims[0])
    throw InputError(s.labels.path + ": has " + std::to_string(s.labels.dims[0]) + " labels but " + s.images.path +
                     " has " + std::to_string(s.images.dims[0]) + " images");
  if (s.images.dims[1] == 0 || s.images.dims[2] == 0) throw InputError(s.images.path + ": images of size 0");
  return s;
}

std::vector<std::string> classNames(const std::string& variant) {
  if (variant == "fashion")  // torchvision's FashionMNIST.classes, folder-safe
    return {"T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"};
  std::vector<std::string> digits;
  for (int i = 0; i < 10; ++i) digits.push_back(std::to_string(i));
  return digits;
}

}  // namespace edgeopt::idx
