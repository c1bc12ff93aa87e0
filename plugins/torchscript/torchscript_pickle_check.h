#pragma once
// Checks one pickle of a TorchScript archive (data.pkl, constants.pkl, the
// code's .debug_pkl records) before LibTorch 1.13's unpickler reads it (the
// debug records: before the importer unpickles them; LibTorch does not).
//
// Why: that unpickler trusts what the bytes declare. It allocates the length a
// string record declares before reading it (a 1.7 KB file made it fill 700 MB),
// grows its memo table to any index a LONG_BINPUT names (30 GB from 5 bytes),
// builds storages of the element count a persistent id declares over a record
// that may hold fewer bytes, and tensors whose sizes and strides reach past
// their storage (reads out of bounds later); several opcodes pop an empty stack
// or index past a mark unchecked. So the pickle is run here on an abstract
// stack first: the same opcodes, the same memo and global table, only the
// values that decide sizes (ints, strings, tuples, tensors' byte extents).
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace edgeopt::torchscript::detail {

// What is wrong and where (byte offset in the pickle).
struct PickleProblem {
  uint64_t offset;
  std::string what;
};

// The bytes of the storage record `key` (data/<key> for data.pkl), nullopt
// when the archive has none; nullptr: this pickle may not reference storages.
using RecordBytes = std::function<std::optional<uint64_t>(const std::string& key)>;

// Throws PickleProblem when LibTorch's unpickler could allocate more than the
// pickle's own size (besides the storage records it reads), read out of
// bounds or build a nesting deeper than kMaxPickleNesting. Returns how often
// each storage record is read (each read is an allocation of its size).
std::map<std::string, uint64_t> checkPickle(const std::string& bytes, const RecordBytes& record_bytes);

// Nesting of tuples, lists, dicts and objects a pickle may build: LibTorch
// destroys nested values recursively.
constexpr int kMaxPickleNesting = 1000;

}  // namespace edgeopt::torchscript::detail
