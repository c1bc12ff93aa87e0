// The TorchScript importer (model source "torchscript"): LibTorch's zip and
// pickle reader (not instrumented), then EdgeOpt's evaluation of the scripted
// graph into the IR, then shape propagation.
#include "fuzz_model_file.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  edgeopt::fuzz::quietLogs();
  edgeopt::fuzz::loadBuiltinPlugin("torchscript");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  edgeopt::fuzz::inspectModelFile(data, size, ".pt");
  return 0;
}
