// An abstract run of a TorchScript pickle, opcode for opcode as LibTorch 1.13's
// Unpickler::readInstruction runs it (see torchscript_pickle_check.h for why).
// Only the opcodes that unpickler reads are accepted; the values kept are the
// ones that decide allocations and extents.
#include "torchscript_pickle_check.h"

#include <c10/core/QScheme.h>
#include <c10/core/ScalarType.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <memory>
#include <vector>

namespace edgeopt::torchscript::detail {
namespace {

struct Val {
  enum class Kind { Int, Str, Tuple, List, Dict, Tensor, Other };
  explicit Val(Kind k) : kind(k) {}
  Kind kind;
  int64_t i = 0;                            // Int
  std::string s;                            // Str
  std::vector<std::shared_ptr<Val>> elems;  // Tuple
  int depth = 0;                            // nesting of containers inside it
  bool sealed = false;                      // List/Dict: inside another value, so no more items (no cycles)
  uint64_t storage_bytes = 0;               // Tensor: bytes its storage holds,
  uint64_t item_bytes = 0;                  // its element size,
  int64_t numel = 0;                        // and its element count
};
using ValPtr = std::shared_ptr<Val>;

// What a GLOBAL's entry in LibTorch's globals_ table does when REDUCE/BUILD calls it.
enum class Global {
  RebuildTensor,   // torch._utils._rebuild_tensor_v2: a tensor over a storage
  RebuildQTensor,  // torch._utils._rebuild_qtensor: the same, quantized
  Sparse,          // torch._utils._rebuild_sparse_tensor: indices unchecked by LibTorch; refused
  PassFirst,       // torch.jit._pickle's restore_type_tag / build_*list: returns its argument's first element
  Other,           // a new object, enum, list specialization, device, ...: its size is its argument's
};

std::optional<c10::ScalarType> storageScalarType(const std::string& name) {
#define EDGEOPT_STORAGE_NAME(_, n) \
  if (name == #n "Storage") return c10::ScalarType::n;
  AT_FORALL_SCALAR_TYPES_WITH_COMPLEX_AND_QINTS(EDGEOPT_STORAGE_NAME)
#undef EDGEOPT_STORAGE_NAME
  return std::nullopt;
}

std::optional<int64_t> qschemeNamed(const std::string& name) {
  for (int q = 0; q < c10::COMPILE_TIME_NUM_QSCHEMES; ++q)
    if (name == c10::toString(static_cast<c10::QScheme>(q))) return q;
  return std::nullopt;
}

class Scanner {
 public:
  Scanner(const std::string& bytes, const RecordBytes& record_bytes) : bytes_(bytes), record_bytes_(record_bytes) {}

  std::map<std::string, uint64_t> run() {
    if (op() != '\x80' || u8() != 2) fail("does not start with PROTO 2 (LibTorch reads protocol 2 only)");
    for (;;) {
      const char code = op();
      if (code == '.') return reads_;  // STOP
      step(code);
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw PickleProblem{at_, what}; }

  const char* take(uint64_t n, const char* what) {
    if (n > bytes_.size() - pos_)
      fail(std::string(what) + " declares " + std::to_string(n) + " bytes; the pickle has " +
           std::to_string(bytes_.size() - pos_) + " left");
    const char* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  char op() {
    at_ = pos_;
    if (pos_ >= bytes_.size()) fail("ends without STOP");
    return bytes_[pos_++];
  }
  template <class T>
  T little(const char* what) {
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));  // x86/ARM little-endian, as LibTorch reads them
    return v;
  }
  uint8_t u8() { return little<uint8_t>("an operand"); }
  std::string line() {
    const char* start = bytes_.data() + pos_;
    const void* nl = std::memchr(start, '\n', bytes_.size() - pos_);
    if (!nl) fail("GLOBAL's name has no end of line");
    const size_t n = static_cast<const char*>(nl) - start;
    pos_ += n + 1;
    return std::string(start, n);
  }

  static ValPtr make(Val::Kind k) { return std::make_shared<Val>(k); }
  static ValPtr integer(int64_t v) {
    auto p = make(Val::Kind::Int);
    p->i = v;
    return p;
  }

  void need(size_t n, const char* name) {
    if (stack_.size() < n)
      fail(std::string(name) + " needs " + std::to_string(n) + " values on the stack, it has " +
           std::to_string(stack_.size()));
  }
  ValPtr pop() {
    ValPtr v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  // The stack position of the innermost MARK, removed; `name` consumes it.
  size_t popMark(const char* name) {
    if (marks_.empty()) fail(std::string(name) + " without a MARK");
    const size_t start = marks_.back();
    marks_.pop_back();
    if (start > stack_.size())
      fail(std::string(name) + "'s MARK is above the stack's top (values it marked were taken)");
    return start;
  }
  // `v` goes inside `into`: a list or dict is sealed (no items after it is
  // inside something, which makes cycles impossible); nesting is bounded.
  void place(const ValPtr& v, Val& into) {
    if (v.get() == &into) fail("a list or dict that contains itself");
    if (v->kind == Val::Kind::List || v->kind == Val::Kind::Dict) v->sealed = true;
    into.depth = std::max(into.depth, v->depth + 1);
    if (into.depth > kMaxPickleNesting) fail("values nested more than " + std::to_string(kMaxPickleNesting) + " deep");
  }
  ValPtr containerOf(Val::Kind k, std::vector<ValPtr>::iterator from) {
    auto c = make(k);
    for (auto it = from; it != stack_.end(); ++it) place(*it, *c);
    if (k == Val::Kind::Tuple) c->elems.assign(from, stack_.end());
    stack_.erase(from, stack_.end());
    return c;
  }
  Val& openContainer(size_t at, Val::Kind k, const char* name) {
    Val& c = *stack_[at];
    if (c.kind != k) fail(std::string(name) + " on a value that is not a " + (k == Val::Kind::List ? "list" : "dict"));
    if (c.sealed)
      fail(std::string(name) + " on a " + (k == Val::Kind::List ? "list" : "dict") + " already inside another value");
    return c;
  }
  void memoPut(uint64_t id) {
    if (stack_.empty()) fail("a memo put with an empty stack");
    // LibTorch grows its memo table to the index; a pickler numbers them in order.
    if (id > memo_.size())
      fail("memo index " + std::to_string(id) + " skips past the " + std::to_string(memo_.size()) +
           " memo entries so far");
    if (id == memo_.size())
      memo_.push_back(stack_.back());
    else
      memo_[id] = stack_.back();
  }
  void memoGet(uint64_t id) {
    if (id >= memo_.size())
      fail("memo index " + std::to_string(id) + " is past the " + std::to_string(memo_.size()) + " memo entries");
    stack_.push_back(memo_[id]);
  }

  void global() {
    const std::string module = line();
    const std::string name = line();
    if (module == "torch") {
      // LibTorch pushes a storage's scalar type or a qscheme as an int, with no globals_ entry.
      if (auto t = storageScalarType(name)) return stack_.push_back(integer(static_cast<int64_t>(*t)));
      if (auto q = qschemeNamed(name)) return stack_.push_back(integer(*q));
      if (name != "device") fail("unknown global torch." + name);
    }
    // LibTorch throws for any other name in torch.jit._pickle, and, in a pickle
    // unpickled without a type resolver (the debug info, which the importer
    // unpickles itself for its messages), for any class.
    static const char* const kPickleHelpers[] = {"build_tensor_from_id", "restore_type_tag", "build_intlist",
                                                 "build_tensorlist",     "build_doublelist", "build_boollist"};
    if (module == "torch.jit._pickle" &&
        std::none_of(std::begin(kPickleHelpers), std::end(kPickleHelpers), [&](const char* h) { return name == h; }))
      fail("unknown global torch.jit._pickle." + name);
    if (!record_bytes_ && module != "torch.jit._pickle")
      fail("global " + module + "." + name + " in a pickle LibTorch reads without classes (debug info)");
    Global g = Global::Other;
    if (module == "torch._utils" && name == "_rebuild_tensor_v2") g = Global::RebuildTensor;
    if (module == "torch._utils" && name == "_rebuild_qtensor") g = Global::RebuildQTensor;
    if (module == "torch._utils" && name == "_rebuild_sparse_tensor") g = Global::Sparse;
    if (module == "torch.jit._pickle" && (name == "restore_type_tag" || name.rfind("build_", 0) == 0) &&
        name != "build_tensor_from_id")
      g = Global::PassFirst;
    globals_.push_back(g);
    stack_.push_back(integer(static_cast<int64_t>(globals_.size() - 1)));
  }

  static bool isInts(const Val& v) {
    return v.kind == Val::Kind::Tuple &&
           std::all_of(v.elems.begin(), v.elems.end(), [](const ValPtr& e) { return e->kind == Val::Kind::Int; });
  }

  // _rebuild_tensor_v2 / _rebuild_qtensor: LibTorch sets the sizes and strides
  // on the storage unchecked, so the last element they reach must be in it.
  ValPtr rebuildTensor(const Val& arg, bool quantized) {
    const char* name = quantized ? "_rebuild_qtensor" : "_rebuild_tensor_v2";
    if (arg.kind != Val::Kind::Tuple || arg.elems.size() < (quantized ? 5u : 4u) ||
        arg.elems[0]->kind != Val::Kind::Tensor || arg.elems[1]->kind != Val::Kind::Int || !isInts(*arg.elems[2]) ||
        !isInts(*arg.elems[3]) || arg.elems[2]->elems.size() != arg.elems[3]->elems.size())
      fail(std::string(name) + " without (storage, offset, sizes, strides)");
    const Val& storage = *arg.elems[0];
    const int64_t offset = arg.elems[1]->i;
    const auto& sizes = arg.elems[2]->elems;
    const auto& strides = arg.elems[3]->elems;
    if (offset < 0) fail(std::string(name) + ": storage offset " + std::to_string(offset));
    bool empty = false;
    int64_t numel = 1;
    for (size_t d = 0; d < sizes.size(); ++d) {
      if (sizes[d]->i < 0 || strides[d]->i < 0)
        fail(std::string(name) + ": negative size or stride in dimension " + std::to_string(d));
      empty = empty || sizes[d]->i == 0;
      if (__builtin_mul_overflow(numel, sizes[d]->i, &numel)) fail(std::string(name) + ": element count overflows");
    }
    if (!empty) {
      int64_t last = offset, reach = 0;  // the last element's index in the storage
      for (size_t d = 0; d < sizes.size(); ++d)
        if (__builtin_mul_overflow(sizes[d]->i - 1, strides[d]->i, &reach) ||
            __builtin_add_overflow(last, reach, &last))
          fail(std::string(name) + ": extent overflows");
      const unsigned __int128 end = (static_cast<unsigned __int128>(last) + 1) * storage.item_bytes;
      if (end > storage.storage_bytes)
        fail(std::string(name) + ": sizes and strides reach byte " + std::to_string(static_cast<uint64_t>(end)) +
             " of a storage of " + std::to_string(storage.storage_bytes) + " bytes");
    }
    if (quantized) checkQuantizerParams(*arg.elems[4], sizes);
    auto t = make(Val::Kind::Tensor);
    t->storage_bytes = storage.storage_bytes;
    t->item_bytes = storage.item_bytes;
    t->numel = numel;
    return t;
  }

  // Per-channel scales and zero points: one per channel of the axis.
  void checkQuantizerParams(const Val& q, const std::vector<ValPtr>& sizes) {
    if (q.kind != Val::Kind::Tuple || q.elems.empty() || q.elems[0]->kind != Val::Kind::Int)
      fail("_rebuild_qtensor without a qscheme");
    const int64_t scheme = q.elems[0]->i;
    if (scheme != static_cast<int64_t>(c10::kPerChannelAffine) &&
        scheme != static_cast<int64_t>(c10::kPerChannelAffineFloatQParams))
      return;
    if (q.elems.size() < 4 || q.elems[1]->kind != Val::Kind::Tensor || q.elems[2]->kind != Val::Kind::Tensor ||
        q.elems[3]->kind != Val::Kind::Int)
      fail("_rebuild_qtensor: per-channel parameters without (scales, zero points, axis)");
    const int64_t axis = q.elems[3]->i;
    if (axis < 0 || axis >= static_cast<int64_t>(sizes.size()))
      fail("_rebuild_qtensor: axis " + std::to_string(axis) + " of a " + std::to_string(sizes.size()) +
           "-dimensional tensor");
    const int64_t channels = sizes[axis]->i;
    if (q.elems[1]->numel != channels || q.elems[2]->numel != channels)
      fail("_rebuild_qtensor: " + std::to_string(q.elems[1]->numel) + " scales and " +
           std::to_string(q.elems[2]->numel) + " zero points for " + std::to_string(channels) + " channels");
  }

  // restore_type_tag's type string goes to LibTorch's recursive type parser.
  void checkTypeString(const Val& arg) {
    if (arg.elems.size() < 2 || arg.elems[1]->kind != Val::Kind::Str) return;  // not restore_type_tag's shape
    int depth = 0, deepest = 0;
    for (char c : arg.elems[1]->s) deepest = std::max(deepest, depth += (c == '[') - (c == ']'));
    if (deepest > 100) fail("a type nested " + std::to_string(deepest) + " deep");
  }

  void call(const char* name) {
    need(2, name);
    const ValPtr arg = pop();
    const ValPtr callee = pop();
    if (callee->kind != Val::Kind::Int) fail(std::string(name) + " on a value that names no global");
    if (callee->i < 0 || static_cast<uint64_t>(callee->i) >= globals_.size())
      fail(std::string(name) + " on global " + std::to_string(callee->i) + " of " + std::to_string(globals_.size()));
    ValPtr result;
    switch (globals_[callee->i]) {
      case Global::RebuildTensor:
        result = rebuildTensor(*arg, false);
        break;
      case Global::RebuildQTensor:
        result = rebuildTensor(*arg, true);
        break;
      case Global::Sparse:
        fail("a sparse tensor (EdgeOpt imports dense tensors only)");
      case Global::PassFirst:
        if (arg->kind != Val::Kind::Tuple || arg->elems.empty()) fail(std::string(name) + " without arguments");
        checkTypeString(*arg);
        result = arg->elems[0];
        break;
      case Global::Other:
        result = make(Val::Kind::Other);
        break;
    }
    if (result != arg && (result->kind == Val::Kind::Other || result->kind == Val::Kind::Tensor)) place(arg, *result);
    stack_.push_back(result);
  }

  // BINPERSID: LibTorch reads the storage record whole and declares the
  // storage numel * element size bytes over it.
  void persistentId() {
    need(1, "BINPERSID");
    const ValPtr id = pop();
    const auto& e = id->elems;
    if (id->kind != Val::Kind::Tuple || e.size() < 5 || e[0]->kind != Val::Kind::Str || e[0]->s != "storage" ||
        e[1]->kind != Val::Kind::Int || e[2]->kind != Val::Kind::Str || e[3]->kind != Val::Kind::Str ||
        e[4]->kind != Val::Kind::Int)
      fail("BINPERSID without ('storage', type, key, device, element count)");
    if (!record_bytes_) fail("a storage reference in a pickle that has no storages");
    const int64_t type = e[1]->i;
    if (type < 0 || type >= static_cast<int64_t>(c10::ScalarType::NumOptions) ||
        type == static_cast<int64_t>(c10::ScalarType::Undefined))
      fail("storage '" + e[2]->s + "' has scalar type " + std::to_string(type));
    const uint64_t item = c10::elementSize(static_cast<c10::ScalarType>(type));
    const int64_t numel = e[4]->i;
    if (numel < 0) fail("storage '" + e[2]->s + "' declares " + std::to_string(numel) + " elements");
    unsigned __int128 bytes = static_cast<unsigned __int128>(numel) * item;
    if (numel > 0) {
      const auto available = record_bytes_(e[2]->s);
      if (!available) fail("storage '" + e[2]->s + "' has no record in the archive");
      if (bytes > *available)
        fail("storage '" + e[2]->s + "' declares " + std::to_string(numel) + " elements of " + std::to_string(item) +
             " bytes; its record has " + std::to_string(*available) + " bytes");
      ++reads_[e[2]->s];
    }
    auto t = make(Val::Kind::Tensor);
    t->storage_bytes = static_cast<uint64_t>(bytes);
    t->item_bytes = item;
    t->numel = numel;
    stack_.push_back(t);
  }

  void step(char code) {
    switch (code) {
      case ']':
        return stack_.push_back(make(Val::Kind::List));  // EMPTY_LIST
      case '}':
        return stack_.push_back(make(Val::Kind::Dict));  // EMPTY_DICT
      case ')':
        return stack_.push_back(make(Val::Kind::Tuple));  // EMPTY_TUPLE
      case 'N':                                           // NONE
      case '\x88':                                        // NEWTRUE
      case '\x89':                                        // NEWFALSE
        return stack_.push_back(make(Val::Kind::Other));
      case 'G':  // BINFLOAT
        take(8, "BINFLOAT");
        return stack_.push_back(make(Val::Kind::Other));
      case 'K':
        return stack_.push_back(integer(u8()));  // BININT1
      case 'M':
        return stack_.push_back(integer(little<uint16_t>("BININT2")));  // BININT2
      case 'J':
        return stack_.push_back(integer(little<int32_t>("BININT")));  // BININT
      case '\x8a': {                                                  // LONG1
        if (u8() != 8) fail("LONG1 of other than 8 bytes (LibTorch reads 8)");
        return stack_.push_back(integer(little<int64_t>("LONG1")));
      }
      case 'X': {  // BINUNICODE: LibTorch allocates the declared length before reading it
        const uint32_t n = little<uint32_t>("BINUNICODE");
        auto s = make(Val::Kind::Str);
        s->s.assign(take(n, "BINUNICODE"), n);
        return stack_.push_back(s);
      }
      case 'q':
        return memoPut(u8());  // BINPUT
      case 'r':
        return memoPut(little<uint32_t>("LONG_BINPUT"));  // LONG_BINPUT
      case 'h':
        return memoGet(u8());  // BINGET
      case 'j':
        return memoGet(little<uint32_t>("LONG_BINGET"));  // LONG_BINGET
      case '(':
        return marks_.push_back(stack_.size());  // MARK
      case 't': {                                // TUPLE
        const size_t start = popMark("TUPLE");
        return stack_.push_back(containerOf(Val::Kind::Tuple, stack_.begin() + start));
      }
      case '\x85':    // TUPLE1
      case '\x86':    // TUPLE2
      case '\x87': {  // TUPLE3
        const size_t n = static_cast<uint8_t>(code) - 0x84;
        need(n, "TUPLE1/2/3");
        return stack_.push_back(containerOf(Val::Kind::Tuple, stack_.end() - n));
      }
      case 'l': {  // LIST
        const size_t start = popMark("LIST");
        return stack_.push_back(containerOf(Val::Kind::List, stack_.begin() + start));
      }
      case 'd': {  // DICT
        const size_t start = popMark("DICT");
        if ((stack_.size() - start) % 2) fail("DICT of an odd number of keys and values");
        return stack_.push_back(containerOf(Val::Kind::Dict, stack_.begin() + start));
      }
      case 'e':    // APPENDS
      case 'u': {  // SETITEMS
        const char* name = code == 'e' ? "APPENDS" : "SETITEMS";
        const size_t start = popMark(name);
        if (start == 0) fail(std::string(name) + " with nothing below its MARK");
        if (code == 'u' && (stack_.size() - start) % 2) fail("SETITEMS of an odd number of keys and values");
        Val& c = openContainer(start - 1, code == 'e' ? Val::Kind::List : Val::Kind::Dict, name);
        for (auto it = stack_.begin() + start; it != stack_.end(); ++it) place(*it, c);
        stack_.erase(stack_.begin() + start, stack_.end());
        return;
      }
      case 's': {  // SETITEM
        need(3, "SETITEM");
        Val& c = openContainer(stack_.size() - 3, Val::Kind::Dict, "SETITEM");
        place(stack_[stack_.size() - 2], c);
        place(stack_.back(), c);
        stack_.resize(stack_.size() - 2);
        return;
      }
      case 'c':
        return global();  // GLOBAL
      case '\x81':        // NEWOBJ: drops the argument tuple
        need(1, "NEWOBJ");
        stack_.pop_back();
        return;
      case 'R':
        return call("REDUCE");
      case 'b':
        return call("BUILD");
      case 'Q':
        return persistentId();  // BINPERSID
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned>(static_cast<uint8_t>(code)));
        fail(std::string("opcode ") + hex + ", which LibTorch's unpickler does not read");
      }
    }
  }

  const std::string& bytes_;
  const RecordBytes& record_bytes_;
  size_t pos_ = 0;
  uint64_t at_ = 0;  // the current opcode's offset
  std::vector<ValPtr> stack_;
  std::vector<size_t> marks_;
  std::vector<ValPtr> memo_;
  std::vector<Global> globals_;
  std::map<std::string, uint64_t> reads_;
};

}  // namespace

std::map<std::string, uint64_t> checkPickle(const std::string& bytes, const RecordBytes& record_bytes) {
  return Scanner(bytes, record_bytes).run();
}

}  // namespace edgeopt::torchscript::detail
