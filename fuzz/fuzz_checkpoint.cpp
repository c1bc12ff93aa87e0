// The .edgeopt checkpoint reader (GraphModule::load: prefix, JSON header,
// graph, tensor table, lint), then shape propagation for the recorded input.
#include "fuzz_model_file.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  edgeopt::fuzz::quietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = edgeopt::fuzz::writeInput(data, size, ".edgeopt");
  edgeopt::fuzz::expectHandled([&] {
    auto model = edgeopt::GraphModule::load(path);
    edgeopt::fuzz::summarizeRecorded(*model);
  });
  return 0;
}
