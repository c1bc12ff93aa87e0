// Channel importance: L2 on BN-folded weights with a consumer's inputs, the
// consumer slice for concat offsets and flatten->linear spans, and FPGM
// choosing the channel nearest the others' geometric median.
#include <edgeopt/prune/importance.h>
#include <edgeopt/prune/masks.h>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

using namespace edgeopt::prune;

namespace {
at::Tensor doubles(std::vector<double> v) { return at::tensor(v, at::kDouble); }
}  // namespace

TEST_CASE("L2 importance on BN-folded weights, with the consumer's input channels", "[prune][importance]") {
  // conv [2, 1, 1, 2]: channel 0 = (3, 4), channel 1 = (1, 0): raw L2 5 and 1.
  auto w = doubles({3, 4, 1, 0}).reshape({2, 1, 1, 2});
  // BN: gamma (2, 8), var (4, 0.25), eps 0 -> scale 2/2 = 1 and 8/0.5 = 16.
  auto folded = foldBatchNorm(w, doubles({2, 8}), doubles({4, 0.25}), 0.0);
  CHECK(folded.reshape({-1}).equal(doubles({3, 4, 16, 0})));
  auto imp = channelImportance(folded, ChannelCriterion::L2);
  CHECK(imp[0].item<double>() == Approx(5.0));
  CHECK(imp[1].item<double>() == Approx(16.0));  // BN turns the small channel into the large one
  CHECK(channelMask(imp, 0.5).equal(doubles({0, 1})));
  CHECK(channelMask(channelImportance(w, ChannelCriterion::L2), 0.5).equal(doubles({1, 0})));  // unfolded: the other

  // Consumer conv [3, 2, 1, 1]: input 0 read with (12, 0, 0), input 1 with (1, 2, 2).
  auto next = doubles({12, 1, 0, 2, 0, 2}).reshape({3, 2, 1, 1});
  auto withNext = channelImportance(folded, ChannelCriterion::L2, {{next}});
  CHECK(withNext[0].item<double>() == Approx(13.0));                // sqrt(9 + 16 + 144)
  CHECK(withNext[1].item<double>() == Approx(std::sqrt(265.0)));   // sqrt(256 + 1 + 4 + 4) = 16.279
  CHECK_THROWS_WITH(foldBatchNorm(w, doubles({1, 1, 1}), doubles({1, 1, 1}), 1e-5), Catch::Contains("3 channels"));
}

TEST_CASE("consumer slices: a concat offset and a flatten->linear span", "[prune][importance]") {
  auto w = doubles({1, 2}).reshape({2, 1});  // two output channels, one weight each
  // linear [2, 6] after concat(other 1 channel, ours) then flatten of 2 values per channel:
  // our channel 0 owns inputs 1, 2; channel 1 owns inputs 3, 4.
  auto lin = at::arange(12, at::kDouble).reshape({2, 6});
  auto f = channelFeatures(w, {{lin, 1, 2}});
  // row o: w[o], then lin[:, 1+2o .. 2+2o] input-major: (lin[0][i], lin[1][i]) for each input i.
  CHECK(f.equal(doubles({1, 1, 7, 2, 8, 2, 3, 9, 4, 10}).reshape({2, 5})));
  CHECK_THROWS_WITH(channelFeatures(w, {{lin, 3, 2}}), Catch::Contains("cannot hold 2 channels"));
}

TEST_CASE("FPGM picks the channel nearest the others' geometric median", "[prune][importance]") {
  // 1x1 conv, five channels in the plane around (10, 10): A = (10.5, 10)
  // near the centre, B/C/D/E = (13,10) (7,10) (10,13) (10,7). The others'
  // geometric median is (10, 10), and A is nearest it.
  auto w = doubles({10.5, 10, 13, 10, 7, 10, 10, 13, 10, 7}).reshape({5, 2, 1, 1});
  auto imp = channelImportance(w, ChannelCriterion::Fpgm);
  // Sums of distances:
  //   A: 2.5 + 3.5 + 2 sqrt(0.25 + 9)           = 6 + 2 * 3.04138 = 12.08276
  //   B: 2.5 + 6 + 2 sqrt(18)                    = 8.5 + 8.48528   = 16.98528
  //   C: 3.5 + 6 + 2 sqrt(18)                    = 17.98528
  //   D, E: sqrt(9.25) + 6 + 2 sqrt(18)          = 17.52667
  const double s18 = std::sqrt(18.0), s925 = std::sqrt(9.25);
  CHECK(imp[0].item<double>() == Approx(6 + 2 * s925).epsilon(1e-12));
  CHECK(imp[1].item<double>() == Approx(8.5 + 2 * s18).epsilon(1e-12));
  CHECK(imp[2].item<double>() == Approx(9.5 + 2 * s18).epsilon(1e-12));
  CHECK(imp[3].item<double>() == Approx(s925 + 6 + 2 * s18).epsilon(1e-12));
  CHECK(imp[4].item<double>() == Approx(s925 + 6 + 2 * s18).epsilon(1e-12));
  // Pruning one of five (0.2) removes A; L2 would remove C (norm sqrt(149), the smallest).
  CHECK(channelMask(imp, 0.2).equal(doubles({0, 1, 1, 1, 1})));
  CHECK(channelMask(channelImportance(w, ChannelCriterion::L2), 0.2).equal(doubles({1, 1, 0, 1, 1})));
}
