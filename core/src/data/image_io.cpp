// Image decoding with OpenCV, strict about truncated files (see image_io.h).
#include <edgeopt/error.h>
#include <edgeopt/image_io.h>
#include <jpeglib.h>

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace edgeopt {

namespace {

bool startsWith(const std::string& b, const char* magic, size_t n) {
  return b.size() >= n && std::memcmp(b.data(), magic, n) == 0;
}

// Position of the last occurrence of the two bytes `a b`, or npos.
// memrchr (vectorised in glibc) keeps this to a few microseconds per image.
size_t lastPair(const std::string& b, unsigned char a, unsigned char c) {
  size_t end = b.size() ? b.size() - 1 : 0;  // `a` must have a byte after it
  while (end > 0) {
    const void* hit = memrchr(b.data(), a, end);
    if (!hit) break;
    const size_t i = static_cast<const char*>(hit) - b.data();
    if (static_cast<unsigned char>(b[i + 1]) == c) return i;
    end = i;
  }
  return std::string::npos;
}

// OpenCV decodes what it can of a truncated JPEG/PNG and only prints a
// warning, which would train on half-grey images without anyone noticing; so
// the container's end is checked before decoding. Returns "" when complete.
std::string truncation(const std::string& b) {
  if (startsWith(b, "\xFF\xD8", 2)) {
    // Entropy-coded data never holds 0xFF followed by a marker byte (0xFF is
    // stuffed as FF 00), so EOI (FF D9) after the last start-of-scan (FF DA)
    // means the last scan is complete. An EOI before it is a thumbnail's.
    const size_t sos = lastPair(b, 0xFF, 0xDA), eoi = lastPair(b, 0xFF, 0xD9);
    if (sos == std::string::npos) return "truncated JPEG (no image data)";
    if (eoi == std::string::npos || eoi < sos) return "truncated JPEG (no end-of-image marker)";
    return "";
  }
  if (startsWith(b, "\x89PNG\r\n\x1A\n", 8)) {
    // IEND is the last chunk; allow a little trailing junk after it.
    const size_t tail = b.size() > 4096 ? b.size() - 4096 : 0;
    if (b.find("IEND", tail) == std::string::npos) return "truncated PNG (no IEND chunk)";
    return "";
  }
  if (startsWith(b, "BM", 2) && b.size() >= 6) {
    const auto* p = reinterpret_cast<const unsigned char*>(b.data()) + 2;
    const size_t declared = p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<size_t>(p[3]) << 24);
    if (declared > b.size())
      return "truncated BMP (" + std::to_string(b.size()) + " of " + std::to_string(declared) + " bytes)";
  }
  return "";
}

std::string readAll(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw InputError(path + ": cannot be opened (" + std::strerror(errno) + ")");
  std::string bytes;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) bytes.append(buf, n);
  if (std::ferror(f.get())) throw InputError(path + ": read error");
  return bytes;
}

// The most pixels an image may have: OpenCV's own limit for what imdecode
// accepts (CV_IO_MAX_IMAGE_PIXELS, default 2^30), applied to the JPEG path too,
// so that a 1 KB file whose header declares 65500 x 65500 fails before its
// 12 GB are allocated and decoded.
uint64_t maxImagePixels() {
  static const uint64_t limit = [] {
    const char* env = std::getenv("CV_IO_MAX_IMAGE_PIXELS");
    char* end = nullptr;
    const unsigned long long v = env ? std::strtoull(env, &end, 10) : 0;
    return env && end != env && *end == '\0' && v > 0 ? uint64_t{v} : uint64_t{1} << 30;
  }();
  return limit;
}

// libjpeg reports a fatal error through error_exit, which must not return:
// jump back into decodeJpeg (C frames can't carry a C++ exception).
struct JpegErrorJump {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
};

[[noreturn]] void jumpOnJpegError(j_common_ptr info) {
  std::longjmp(reinterpret_cast<JpegErrorJump*>(info->err)->jump, 1);
}

// Ordinary JPEGs (YCbCr or gray) decoded with libjpeg-turbo straight into the
// Mat's rows, in BGR: the same library and defaults as cv::imdecode (islow
// IDCT, fancy upsampling), so the same pixels, ~20% faster (no intermediate
// buffer or copy). Anything else (CMYK, Adobe RGB, a libjpeg error) gives an
// empty Mat and goes to cv::imdecode, which decodes or reports it as before.
cv::Mat decodeJpeg(const std::string& bytes, const std::string& name) {
  jpeg_decompress_struct info;
  JpegErrorJump error;
  info.err = jpeg_std_error(&error.mgr);
  error.mgr.error_exit = jumpOnJpegError;
  // Warnings ("Corrupt JPEG data: ...") would go to stderr: a bad file is
  // reported by the caller's one error line, or decoded as OpenCV decodes it.
  error.mgr.output_message = [](j_common_ptr) {};
  cv::Mat out;
  // Re-armed once `out` is allocated, so that no object changes between the
  // jump target and a jump (what makes setjmp safe with C++ objects around).
  if (setjmp(error.jump)) {
    jpeg_destroy_decompress(&info);
    return cv::Mat();
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  const bool color = info.jpeg_color_space == JCS_YCbCr && info.num_components == 3;
  const bool gray = info.jpeg_color_space == JCS_GRAYSCALE && info.num_components == 1;
  if (!color && !gray) {
    jpeg_destroy_decompress(&info);
    return cv::Mat();
  }
  const uint64_t pixels = uint64_t{info.image_width} * info.image_height;
  if (pixels > maxImagePixels()) {
    jpeg_destroy_decompress(&info);
    throw InputError(name + ": " + std::to_string(info.image_width) + "x" + std::to_string(info.image_height) +
                     " pixels, more than the " + std::to_string(maxImagePixels()) +
                     " an image may have (CV_IO_MAX_IMAGE_PIXELS)");
  }
  info.out_color_space = color ? JCS_EXT_BGR : JCS_GRAYSCALE;
  jpeg_start_decompress(&info);
  out.create(static_cast<int>(info.output_height), static_cast<int>(info.output_width), color ? CV_8UC3 : CV_8UC1);
  if (setjmp(error.jump)) {
    jpeg_destroy_decompress(&info);
    return cv::Mat();
  }
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = out.ptr<uint8_t>(static_cast<int>(info.output_scanline));
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return out;
}

}  // namespace

cv::Mat decodeImage(const std::string& bytes, const std::string& name, int channels) {
  if (channels != 0 && channels != 1 && channels != 3)
    throw RuntimeFailure("decodeImage: channels must be 0, 1 or 3 (got " + std::to_string(channels) + ")");
  if (bytes.empty()) throw InputError(name + ": empty file");
  // OpenCV's decoders log their complaints about a malformed file to stderr
  // ("[ERROR:0@1.9] ... OpenJPEG2000: Stream too short"), one or more lines
  // besides the one error line EdgeOpt prints: decoding reports through
  // InputError only. (OpenCV is only used for images here.)
  static const bool opencv_quiet = [] {
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
    return true;
  }();
  (void)opencv_quiet;
  std::string cut = truncation(bytes);
  if (!cut.empty()) throw InputError(name + ": " + cut);
  cv::Mat raw;
  if (startsWith(bytes, "\xFF\xD8", 2)) raw = decodeJpeg(bytes, name);
  if (raw.empty()) {
    try {
      raw = cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8U, const_cast<char*>(bytes.data())),
                         cv::IMREAD_UNCHANGED);
    } catch (const cv::Exception& e) {
      throw InputError(name + ": cannot be decoded (" + e.err + ")");
    }
  }
  if (raw.empty()) throw InputError(name + ": not a readable image (unknown format or corrupt data)");

  if (raw.depth() == CV_16U) {
    raw.convertTo(raw, CV_8U, 1.0 / 257.0);  // 65535 -> 255
  } else if (raw.depth() != CV_8U) {
    throw InputError(name + ": unsupported pixel type (only 8- and 16-bit images)");
  }
  const int c = raw.channels();
  cv::Mat out;
  if (channels == 3) {
    if (c == 1) cv::cvtColor(raw, out, cv::COLOR_GRAY2BGR);
    else if (c == 4) cv::cvtColor(raw, out, cv::COLOR_BGRA2BGR);
    else out = raw;
  } else if (channels == 1) {
    if (c == 3) cv::cvtColor(raw, out, cv::COLOR_BGR2GRAY);
    else if (c == 4) cv::cvtColor(raw, out, cv::COLOR_BGRA2GRAY);
    else out = raw;
  } else {
    if (c == 4) cv::cvtColor(raw, out, cv::COLOR_BGRA2BGR);
    else out = raw;
  }
  if (out.channels() != 1 && out.channels() != 3)
    throw InputError(name + ": unsupported channel count " + std::to_string(c));
  return out;
}

cv::Mat readImage(const std::string& path, int channels) { return decodeImage(readAll(path), path, channels); }

}  // namespace edgeopt
