#pragma once
// Image decoding for dataset plugins (OpenCV lives in libedgeopt_core, so a
// plugin needs no OpenCV codecs of its own).
#include <opencv2/core/mat.hpp>

#include <string>

namespace edgeopt {

// Decodes `path` to an 8-bit image with `channels` channels:
//   3: BGR (gray replicated, alpha dropped without compositing, as PIL's
//      convert("RGB") does for torchvision's ImageFolder),
//   1: gray (color converted with the BT.601 weights, as PIL's convert("L")),
//   0: as stored, but 8-bit (gray stays 1 channel, alpha is dropped).
// The file is decoded with IMREAD_UNCHANGED and converted here, so gray and
// alpha images are handled the same way for every format, 16-bit images are
// scaled to 8 bits, and EXIF orientation is ignored (as PIL does).
// A missing, unreadable, undecodable or truncated file (a JPEG without its end
// marker, a PNG without IEND: OpenCV would return the decoded part with only
// a warning) throws InputError("<path>: <reason>").
cv::Mat readImage(const std::string& path, int channels = 3);

// The same for bytes already in memory; `name` is used in messages.
cv::Mat decodeImage(const std::string& bytes, const std::string& name, int channels = 3);

}  // namespace edgeopt
