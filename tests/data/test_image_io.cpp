// decodeImage's own libjpeg-turbo path against cv::imdecode: the same pixels
// for every chroma subsampling, progressive and gray files, and corrupt data
// still reported as an InputError. The JPEGs are written here with libjpeg,
// which (unlike OpenCV 4.6's imwrite) can choose the subsampling.
#include "data_test_util.h"

#include <edgeopt/error.h>
#include <edgeopt/image_io.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <jpeglib.h>

#include <cstdlib>

using namespace edgeopt;

namespace {

// A smooth image with noise (photo-like), odd-sized so MCUs are partial.
cv::Mat photo(int h, int w, int channels) {
  cv::Mat small(5, 7, CV_8UC(channels)), img, noise(h, w, CV_8UC(channels));
  cv::RNG rng(11);
  rng.fill(small, cv::RNG::UNIFORM, 0, 256);
  cv::resize(small, img, cv::Size(w, h), 0, 0, cv::INTER_CUBIC);
  rng.fill(noise, cv::RNG::UNIFORM, 0, 24);
  return img + noise;
}

// `image` (BGR or gray) as a JPEG with luma sampling factors h x v.
std::string encode(const cv::Mat& image, int h_samp, int v_samp, bool progressive) {
  jpeg_compress_struct info;
  jpeg_error_mgr error;
  info.err = jpeg_std_error(&error);
  jpeg_create_compress(&info);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&info, &buffer, &size);
  info.image_width = static_cast<JDIMENSION>(image.cols);
  info.image_height = static_cast<JDIMENSION>(image.rows);
  info.input_components = image.channels();
  info.in_color_space = image.channels() == 3 ? JCS_EXT_BGR : JCS_GRAYSCALE;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, 90, TRUE);
  info.comp_info[0].h_samp_factor = h_samp;
  info.comp_info[0].v_samp_factor = v_samp;
  if (progressive) jpeg_simple_progression(&info);
  jpeg_start_compress(&info, TRUE);
  while (info.next_scanline < info.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(image.ptr<uint8_t>(static_cast<int>(info.next_scanline)));
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  std::string bytes(reinterpret_cast<char*>(buffer), size);
  std::free(buffer);
  return bytes;
}

cv::Mat opencvDecode(const std::string& bytes) {
  return cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8U, const_cast<char*>(bytes.data())),
                      cv::IMREAD_UNCHANGED);
}

bool identical(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0;
}

}  // namespace

TEST_CASE("JPEGs decode to OpenCV's pixels for every subsampling, progressive and gray", "[data][image_io]") {
  const cv::Mat color = photo(37, 53, 3), gray = photo(37, 53, 1);
  struct Case {
    int h, v;
    bool progressive;
  };
  for (const Case c : {Case{1, 1, false}, Case{2, 1, false}, Case{2, 2, false}, Case{4, 1, false},
                       Case{1, 2, false}, Case{2, 2, true}, Case{1, 1, true}}) {
    CAPTURE(c.h, c.v, c.progressive);
    const std::string bytes = encode(color, c.h, c.v, c.progressive);
    const cv::Mat ours = decodeImage(bytes, "x.jpg", 0), reference = opencvDecode(bytes);
    REQUIRE(ours.type() == CV_8UC3);
    CHECK(identical(ours, reference));
    cv::Mat gray_reference;
    cv::cvtColor(reference, gray_reference, cv::COLOR_BGR2GRAY);
    CHECK(identical(decodeImage(bytes, "x.jpg", 1), gray_reference));
  }
  for (bool progressive : {false, true}) {
    const std::string bytes = encode(gray, 1, 1, progressive);
    const cv::Mat reference = opencvDecode(bytes);
    CHECK(identical(decodeImage(bytes, "g.jpg", 0), reference));
    cv::Mat bgr_reference;
    cv::cvtColor(reference, bgr_reference, cv::COLOR_GRAY2BGR);
    CHECK(identical(decodeImage(bytes, "g.jpg", 3), bgr_reference));
  }
}

TEST_CASE("a JPEG with damaged data decodes as OpenCV does, or is an InputError", "[data][image_io]") {
  const std::string good = encode(photo(40, 48, 3), 2, 2, false);
  // Damaged entropy-coded data: libjpeg warns and decodes something; the
  // markers are intact, so the truncation check lets it through.
  std::string damaged = good;
  const size_t sos = damaged.rfind("\xFF\xDA");
  REQUIRE(sos != std::string::npos);
  for (size_t i = sos + 40; i < damaged.size() - 10; i += 17)
    if (damaged[i] != '\xFF' && damaged[i - 1] != '\xFF') damaged[i] = static_cast<char>(damaged[i] ^ 0x5A);
  CHECK(identical(decodeImage(damaged, "d.jpg", 0), opencvDecode(damaged)));
  // A broken frame header: libjpeg fails, OpenCV fails too: an InputError.
  std::string broken = good;
  const size_t sof = broken.find("\xFF\xC0");
  REQUIRE(sof != std::string::npos);
  broken[sof + 4] = 0x7F;  // segment length far beyond the segment
  broken[sof + 9] = 9;     // 9 components
  CHECK_THROWS_AS(decodeImage(broken, "b.jpg", 0), InputError);
}
