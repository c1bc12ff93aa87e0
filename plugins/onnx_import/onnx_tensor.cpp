#include "onnx_tensor.h"

#include <ATen/ATen.h>
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace edgeopt::onnx_import {
namespace {

using onnx::TensorProto;

std::string tensorLabel(const TensorProto& t) { return t.name().empty() ? "a tensor" : "tensor '" + t.name() + "'"; }

// Widened types read their values from a wider field.
template <class From>
at::Tensor fromValues(const From* data, int64_t count, c10::ScalarType type) {
  at::Tensor out = at::empty({count}, at::kDouble);
  double* o = out.data_ptr<double>();
  for (int64_t i = 0; i < count; ++i) o[i] = static_cast<double>(data[i]);
  return out.to(type);
}

at::Tensor fromInt64s(const int64_t* data, int64_t count, c10::ScalarType type) {
  at::Tensor out = at::empty({count}, at::kLong);
  // An empty repeated field's data() is null, and memcpy from null is
  // undefined even for 0 bytes (UBSan, fuzz_onnx: an empty int64 initializer).
  if (count > 0) std::memcpy(out.data_ptr<int64_t>(), data, static_cast<size_t>(count) * sizeof(int64_t));
  return out.to(type);
}

size_t elementSize(int onnx_type) {
  switch (onnx_type) {
    case TensorProto::FLOAT: case TensorProto::INT32: case TensorProto::UINT32: return 4;
    case TensorProto::UINT8: case TensorProto::INT8: case TensorProto::BOOL: return 1;
    case TensorProto::UINT16: case TensorProto::INT16: case TensorProto::FLOAT16: case TensorProto::BFLOAT16: return 2;
    case TensorProto::INT64: case TensorProto::UINT64: case TensorProto::DOUBLE: return 8;
    default: return 0;
  }
}

// Little-endian bytes of `onnx_type` -> tensor of the matching ATen type.
at::Tensor fromBytes(const std::string& bytes, int onnx_type, int64_t count, const TensorProto& t) {
  // Compared by division: size * count wraps for a count past 2^61 (a
  // declared 2^61 x int64 tensor would have matched an empty data field).
  const size_t size = elementSize(onnx_type);
  if (size == 0 || static_cast<uint64_t>(count) > bytes.size() / size ||
      bytes.size() != size * static_cast<size_t>(count))
    throw std::runtime_error(tensorLabel(t) + " has " + std::to_string(bytes.size()) + " bytes of data for " +
                             std::to_string(count) + " elements");
  switch (onnx_type) {
    case TensorProto::UINT16: {
      std::vector<uint16_t> v(count);
      std::memcpy(v.data(), bytes.data(), bytes.size());
      return fromValues(v.data(), count, at::kInt);
    }
    case TensorProto::UINT32: {
      std::vector<uint32_t> v(count);
      std::memcpy(v.data(), bytes.data(), bytes.size());
      return fromValues(v.data(), count, at::kLong);
    }
    case TensorProto::UINT64: {
      std::vector<uint64_t> v(count);
      std::memcpy(v.data(), bytes.data(), bytes.size());
      return fromValues(v.data(), count, at::kLong);
    }
    default: break;
  }
  auto type = scalarTypeOf(onnx_type);
  at::Tensor out = at::empty({count}, at::TensorOptions().dtype(*type));
  if (count > 0) std::memcpy(out.data_ptr(), bytes.data(), bytes.size());
  return out;
}

// An external_data offset or length: decimal digits only, at most 2^63 - 1
// (std::stoll would take "-5", "12abc" or " 7" and throw "stoll" past int64).
int64_t externalNumber(const TensorProto& t, const std::string& key, const std::string& text) {
  int64_t v = 0;
  bool ok = !text.empty() && text.size() <= 19;
  for (char c : text) ok = ok && c >= '0' && c <= '9';
  if (ok) {
    const uint64_t parsed = std::stoull(text);
    ok = parsed <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    v = static_cast<int64_t>(parsed);
  }
  if (!ok)
    throw std::runtime_error(tensorLabel(t) + ": external data " + key + " '" + text +
                             "' is not a byte count (0 to 2^63 - 1)");
  return v;
}

std::string externalBytes(const TensorProto& t, const std::string& base_dir) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& e : t.external_data()) {
    if (e.key() == "location") location = e.value();
    else if (e.key() == "offset")
      offset = externalNumber(t, "offset", e.value());
    else if (e.key() == "length")
      length = externalNumber(t, "length", e.value());
  }
  if (location.empty() || location.find("..") != std::string::npos || location[0] == '/')
    throw std::runtime_error(tensorLabel(t) + " has an invalid external data location '" + location + "'");
  std::string file = base_dir.empty() ? location : base_dir + "/" + location;
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error(tensorLabel(t) + ": cannot open its external data file '" + file + "'");
  in.seekg(0, std::ios::end);
  const int64_t size = static_cast<int64_t>(in.tellg());
  // Both checked against the file before any use: offset + length may wrap
  // past 2^63, and the bytes are allocated only for a range the file holds.
  if (offset > size)
    throw std::runtime_error(tensorLabel(t) + ": external data offset " + std::to_string(offset) +
                             " is past the end of '" + file + "' (" + std::to_string(size) + " bytes)");
  if (length < 0) length = size - offset;
  if (length > size - offset)
    throw std::runtime_error(tensorLabel(t) + ": external data '" + file + "' has " + std::to_string(size - offset) +
                             " bytes from offset " + std::to_string(offset) + ", " + std::to_string(length) +
                             " declared");
  std::string bytes(static_cast<size_t>(length), '\0');
  in.seekg(offset);
  in.read(bytes.data(), length);
  if (in.gcount() != length)
    throw std::runtime_error(tensorLabel(t) + ": cannot read its external data file '" + file + "'");
  return bytes;
}

}  // namespace

std::optional<c10::ScalarType> scalarTypeOf(int onnx_type) {
  switch (onnx_type) {
    case TensorProto::FLOAT: return at::kFloat;
    case TensorProto::UINT8: return at::kByte;
    case TensorProto::INT8: return at::kChar;
    case TensorProto::UINT16: return at::kInt;
    case TensorProto::INT16: return at::kShort;
    case TensorProto::INT32: return at::kInt;
    case TensorProto::INT64: return at::kLong;
    case TensorProto::BOOL: return at::kBool;
    case TensorProto::FLOAT16: return at::kHalf;
    case TensorProto::DOUBLE: return at::kDouble;
    case TensorProto::UINT32: return at::kLong;
    case TensorProto::UINT64: return at::kLong;
    case TensorProto::BFLOAT16: return at::kBFloat16;
    default: return std::nullopt;
  }
}

at::Tensor tensorFromProto(const TensorProto& t, const std::string& base_dir) {
  const int type = t.data_type();
  auto scalar = scalarTypeOf(type);
  if (!scalar)
    throw std::runtime_error(tensorLabel(t) + " has data type " + std::to_string(type) +
                             " (strings and complex numbers are not supported)");
  std::vector<int64_t> dims(t.dims().begin(), t.dims().end());
  int64_t count = 1;
  for (int64_t d : dims) {
    if (d < 0) throw std::runtime_error(tensorLabel(t) + " has a negative dimension");
    // A hostile header can declare more elements than int64 holds; wrapped,
    // the count could match a tiny data field.
    if (d > 0 && count > std::numeric_limits<int64_t>::max() / d)
      throw std::runtime_error(tensorLabel(t) + " declares more elements than 2^63");
    count *= d;
  }
  at::Tensor flat;
  if (t.has_data_location() && t.data_location() == TensorProto::EXTERNAL) {
    flat = fromBytes(externalBytes(t, base_dir), type, count, t);
  } else if (t.has_raw_data()) {
    flat = fromBytes(t.raw_data(), type, count, t);
  } else {
    auto check = [&](int64_t n) {
      if (n != count)
        throw std::runtime_error(tensorLabel(t) + " has " + std::to_string(n) + " values for " +
                                 std::to_string(count) + " elements");
    };
    switch (type) {
      case TensorProto::FLOAT:
        check(t.float_data_size());
        flat = fromValues(t.float_data().data(), count, at::kFloat);
        break;
      case TensorProto::DOUBLE:
        check(t.double_data_size());
        flat = fromValues(t.double_data().data(), count, at::kDouble);
        break;
      case TensorProto::INT64:
        check(t.int64_data_size());
        flat = fromInt64s(t.int64_data().data(), count, at::kLong);
        break;
      case TensorProto::UINT32: case TensorProto::UINT64:
        check(t.uint64_data_size());
        flat = fromValues(t.uint64_data().data(), count, at::kLong);
        break;
      case TensorProto::FLOAT16: case TensorProto::BFLOAT16: {
        // int32_data holds the 16-bit patterns.
        check(t.int32_data_size());
        at::Tensor bits = at::empty({count}, at::kShort);
        int16_t* b = bits.data_ptr<int16_t>();
        for (int64_t i = 0; i < count; ++i) b[i] = static_cast<int16_t>(static_cast<uint16_t>(t.int32_data(i)));
        flat = bits.view(*scalar).clone();
        break;
      }
      default:  // int32, int16, int8, uint8, uint16, bool
        check(t.int32_data_size());
        flat = fromValues(t.int32_data().data(), count, *scalar);
        break;
    }
  }
  return flat.reshape(dims).contiguous();
}

at::Tensor readTensorFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  TensorProto t;
  if (!t.ParseFromString(ss.str())) throw std::runtime_error(path + ": not a TensorProto");
  return tensorFromProto(t);
}

}  // namespace edgeopt::onnx_import
