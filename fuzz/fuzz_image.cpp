// Image decoding for every dataset (edgeopt::decodeImage: JPEG through
// libjpeg-turbo directly, other formats through OpenCV, then the channel and
// depth conversions). The first byte picks the channel count (0, 1 or 3).
#include <edgeopt/image_io.h>

#include "fuzz_support.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  edgeopt::fuzz::quietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const int kChannels[] = {3, 1, 0};
  const int channels = kChannels[data[0] % 3];
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  edgeopt::fuzz::expectHandled([&] { edgeopt::decodeImage(bytes, "fuzz-input", channels); });
  return 0;
}
