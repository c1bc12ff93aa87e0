// The ONNX importer (model source "onnx_import"): protobuf parsing, the
// checker, constant folding, every op converter, then shape propagation.
#include "fuzz_model_file.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  edgeopt::fuzz::quietLogs();
  edgeopt::fuzz::loadBuiltinPlugin("onnx_import");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  edgeopt::fuzz::inspectModelFile(data, size, ".onnx");
  return 0;
}
