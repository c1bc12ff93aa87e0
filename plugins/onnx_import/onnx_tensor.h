#pragma once
// ONNX TensorProto <-> ATen. Used by the importer for initializers and
// Constant nodes, and by the tests for the reference data of libonnx-testdata.
#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <optional>
#include <string>

namespace onnx {
class TensorProto;
}

namespace edgeopt::onnx_import {

// The ATen dtype of an ONNX TensorProto::DataType (uint16/uint32/uint64 widen
// to the next signed type); nullopt for strings, complex and unknown types.
std::optional<c10::ScalarType> scalarTypeOf(int onnx_type);

// A contiguous tensor with the proto's data (raw_data, the typed fields, or
// external data relative to `base_dir`). Throws std::runtime_error naming the
// tensor for what it can't read.
at::Tensor tensorFromProto(const onnx::TensorProto& t, const std::string& base_dir = "");

// Parses a serialized TensorProto (a test_data_set_*/input_*.pb file).
at::Tensor readTensorFile(const std::string& path);

}  // namespace edgeopt::onnx_import
