#pragma once
// The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/):
// a big-endian header (two zero bytes, a type byte, a dimension count, one
// 32-bit size per dimension) followed by the data. Shared by the mnist
// dataset plugin and the edgeopt-idx2folder tool.
#include <cstdint>
#include <string>
#include <vector>

namespace edgeopt::idx {

struct Array {
  std::string path;
  std::vector<uint32_t> dims;
  std::vector<uint8_t> data;  // row-major, prod(dims) bytes
  uint32_t crc32 = 0;         // of `data`, for the dataset fingerprint
};

// Reads an unsigned-byte IDX file with `ndims` dimensions, gzipped or not
// (zlib reads both). Wrong magic, type or dimension count, a short or
// over-long file, and gzip errors throw InputError naming the file.
Array read(const std::string& path, size_t ndims);

// root/<stem>, else root/<stem>.gz; InputError naming both when neither exists.
std::string find(const std::string& root, const std::string& stem);

// One split: images (N x rows x cols) and labels (N), checked to agree.
struct Split {
  Array images, labels;
  size_t count() const { return labels.dims.empty() ? 0 : labels.dims[0]; }
};
// prefix: "train" or "t10k" (the standard file names).
Split readSplit(const std::string& root, const std::string& prefix);

// Class names by label, safe as folder names ('/' and ' ' become '_').
std::vector<std::string> classNames(const std::string& variant);  // "mnist" | "fashion"

}  // namespace edgeopt::idx
