// The IDX reader of the mnist dataset (plain or gzipped), as an images file
// (3 dimensions) and as a labels file (1 dimension).
#include "fuzz_support.h"
#include "idx_reader.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  edgeopt::fuzz::quietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = edgeopt::fuzz::writeInput(data, size, "-ubyte");
  for (size_t ndims : {3, 1}) edgeopt::fuzz::expectHandled([&] { edgeopt::idx::read(path, ndims); });
  return 0;
}
