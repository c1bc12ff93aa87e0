// Pruning masks: N:M patterns checked in every group, ratios exact to
// rounding (unstructured, per channel, whole channels), the global threshold
// with its per-layer cap and small-layer skipping.
#include <edgeopt/prune/masks.h>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <vector>

using namespace edgeopt::prune;

namespace {

at::Tensor doubles(std::vector<double> v) { return at::tensor(v, at::kDouble); }

int64_t zeros(const at::Tensor& mask) { return mask.numel() - at::count_nonzero(mask).item<int64_t>(); }

// A conv-shaped mask regrouped as [O*kh*kw, I]: one row per (o, y, x).
at::Tensor rowsAlongInput(const at::Tensor& t) {
  return t.permute({0, 2, 3, 1}).reshape({-1, t.size(1)});
}

// Every group of m (the last one possibly shorter) of every row has exactly
// the expected zeros, and no pruned weight outranks a kept one in its group.
void checkGroups(const at::Tensor& imp, const at::Tensor& mask, int64_t m, int64_t fullZeros, int64_t lastZeros) {
  const int64_t in = imp.size(1);
  for (int64_t g = 0; g * m < in; ++g) {
    const int64_t len = std::min(m, in - g * m);
    auto mg = mask.narrow(1, g * m, len), ig = imp.narrow(1, g * m, len);
    auto pruned = (1 - mg).sum(1);
    const int64_t want = len == m ? fullZeros : lastZeros;
    CAPTURE(g, len);
    REQUIRE(at::all(pruned == want).item<bool>());
    // max over pruned <= min over kept, per row
    auto prunedMax = at::where(mg == 0, ig, at::full_like(ig, -1e30)).amax(1);
    auto keptMin = at::where(mg == 1, ig, at::full_like(ig, 1e30)).amin(1);
    REQUIRE(at::all(prunedMax <= keptMin).item<bool>());
  }
}

}  // namespace

TEST_CASE("N:M masks: 41:64 and 2:4 hold in every group along the input dimension", "[prune][n2m]") {
  at::manual_seed(7);
  SECTION("41:64 on a conv [8, 128, 3, 3]: 72 rows x 2 groups, 41 zeros each") {
    auto imp = at::randn({8, 128, 3, 3}, at::kDouble).abs();
    auto mask = nmMask(imp, 41, 64);
    REQUIRE(mask.sizes() == imp.sizes());
    checkGroups(rowsAlongInput(imp), rowsAlongInput(mask), 64, 41, 41);
    CHECK(zeros(mask) == 8 * 9 * 2 * 41);
    CHECK(nmMaskForRatio(imp, 41.0 / 64, 64).equal(mask));
  }
  SECTION("2:4 on a linear [16, 32]") {
    auto imp = at::randn({16, 32}, at::kDouble).abs();
    auto mask = nmMask(imp, 2, 4);
    checkGroups(imp, mask, 4, 2, 2);
    CHECK(zeros(mask) == 16 * 8 * 2);
  }
  SECTION("I not a multiple of M: the last group gets round(ratio * len)") {
    // 2:4 on I = 10: groups of 4, 4, 2 -> 2, 2, 1 zeros.
    auto imp = at::randn({5, 10, 1, 1}, at::kDouble).abs();
    checkGroups(rowsAlongInput(imp), rowsAlongInput(nmMask(imp, 2, 4)), 4, 2, 1);
    // 41:64 on I = 70: one group of 64 (41 zeros) and one of 6:
    // round(41 * 6 / 64) = round(3.84) = 4; by ratio round(0.640625 * 6) = 4.
    auto wide = at::randn({3, 70}, at::kDouble).abs();
    checkGroups(wide, nmMask(wide, 41, 64), 64, 41, 4);
    checkGroups(wide, nmMaskForRatio(wide, 41.0 / 64, 64), 64, 41, 4);
  }
  SECTION("groups run along I for each spatial position, not along the flattened weight") {
    // [1, 4, 1, 2]: at x = 0 the I values are 1 2 3 4, at x = 1 they are 40 30 20 10.
    auto imp = doubles({1, 40, 2, 30, 3, 20, 4, 10}).reshape({1, 4, 1, 2});
    auto mask = nmMask(imp, 2, 4);
    // x = 0 prunes I = 0, 1 (values 1, 2); x = 1 prunes I = 2, 3 (values 20, 10).
    CHECK(mask.reshape({-1}).equal(doubles({0, 1, 0, 1, 1, 0, 1, 0})));
  }
  SECTION("bad patterns are refused") {
    CHECK_THROWS_WITH(nmMask(at::ones({4, 4}), 5, 4), Catch::Contains("0 <= N <= M"));
    CHECK_THROWS_WITH(nmMask(at::ones({4}), 2, 4), Catch::Contains("input dimension"));
  }
}

TEST_CASE("unstructured mask: exactly round(ratio * numel) zeros, ties by index", "[prune][unstructured]") {
  // 10 weights, 0.25 -> round(2.5) = 3: the three 1s (indices 1, 3, 4).
  auto imp = doubles({3, 1, 2, 1, 1, 9, 8, 7, 6, 5});
  CHECK(unstructuredMask(imp, 0.25).equal(doubles({1, 0, 1, 0, 0, 1, 1, 1, 1, 1})));
  // All equal: the lowest indices go first.
  CHECK(unstructuredMask(at::ones({10}, at::kDouble), 0.3).equal(doubles({0, 0, 0, 1, 1, 1, 1, 1, 1, 1})));
  at::manual_seed(3);
  auto w = at::randn({37, 3}).abs();
  for (int i = 0; i <= 20; ++i) {
    const double r = i * 0.05;
    CAPTURE(r);
    CHECK(zeros(unstructuredMask(w, r)) == std::llround(r * 111));
  }
  CHECK(pruneCount(111, 0.5) == 56);  // 55.5 rounds away from zero
  CHECK_THROWS_WITH(unstructuredMask(w, 1.5), Catch::Contains("[0, 1]"));
}

TEST_CASE("prunechannelunstructured: the ratio within each output channel", "[prune][unstructured]") {
  at::manual_seed(5);
  auto imp = at::randn({6, 7, 1, 1}, at::kDouble).abs();
  auto mask = perChannelUnstructuredMask(imp, 0.5);  // round(3.5) = 4 of each channel's 7
  CHECK(at::all((1 - mask).reshape({6, 7}).sum(1) == 4).item<bool>());
  CHECK(perChannelUnstructuredMask(doubles({4, 3, 2, 1, 1, 2, 3, 4}).reshape({2, 4}), 0.5)
            .equal(doubles({1, 1, 0, 0, 0, 0, 1, 1}).reshape({2, 4})));
}

TEST_CASE("channel mask: round(ratio * O) least important channels, at least min_keep kept", "[prune][channel]") {
  auto imp = doubles({5, 0, 7, 2, 9, 1, 8, 3, 6, 4});
  // 0.35 * 10 = 3.5 -> 4 channels: importances 0, 1, 2, 3 at 1, 5, 3, 7.
  CHECK(channelMask(imp, 0.35).equal(doubles({1, 0, 1, 0, 1, 0, 1, 0, 1, 1})));
  // 0.95 -> 10 (round 9.5), but min_keep 2 leaves the two best (9 and 8).
  CHECK(channelMask(imp, 0.95, 2).equal(doubles({0, 0, 0, 0, 1, 0, 1, 0, 0, 0})));
  auto w = at::ones({10, 3, 3, 3});
  auto shaped = channelMaskFor(channelMask(imp, 0.35), w);
  CHECK(shaped.sizes() == at::IntArrayRef({10, 1, 1, 1}));
  CHECK(zeros(w * shaped) == 4 * 27);
  CHECK_THROWS_WITH(channelMaskFor(channelMask(imp, 0.35), at::ones({4, 3})), Catch::Contains("10 channels"));
}

TEST_CASE("channel mask with round_to: kept counts rounded to the nearest multiple, at most the group",
          "[prune][channel]") {
  // resnet18's widths at 30 %: 45, 90, 179, 358 kept -> 48, 96, 176, 352.
  CHECK(keptChannels(64, 0.3) == 45);
  CHECK(keptChannels(64, 0.3, 1, 16) == 48);
  CHECK(keptChannels(128, 0.3, 1, 16) == 96);
  CHECK(keptChannels(256, 0.3, 1, 16) == 176);
  CHECK(keptChannels(512, 0.3, 1, 16) == 352);
  CHECK(keptChannels(64, 0.375, 1, 16) == 48);  // 40 kept: a tie goes up
  CHECK(keptChannels(512, 0.3, 1, 8) == 360);
  CHECK(keptChannels(30, 0.1, 1, 16) == 30);    // 27 -> 32, capped at the group's 30
  CHECK(keptChannels(8, 0.5, 1, 16) == 8);      // smaller than round_to: left whole
  CHECK(keptChannels(40, 0.95, 1, 16) == 16);   // 2 kept -> 16
  CHECK(keptChannels(40, 0.95, 20, 16) == 32);  // min_keep 20 first; 16 would break it, so up
  CHECK_THROWS_WITH(keptChannels(64, 0.3, 1, 0), Catch::Contains("round_to"));
  // The 4 least important of 20 go (14 kept -> 16): importances 0..3.
  auto imp = doubles({5, 0, 7, 2, 9, 1, 8, 3, 6, 4, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19});
  auto mask = channelMask(imp, 0.3, 1, 16);
  CHECK(mask.sum().item<double>() == 16);
  CHECK(mask.equal((imp >= 4).to(at::kDouble)));
}

TEST_CASE("global magnitude masks: one threshold, a per-layer cap, small layers skipped", "[prune][global]") {
  auto a = doubles({1, 2, 3, 4, 5, 6, 7, 8});
  auto b = doubles({0.5, 1.5, 2.5, 3.5});
  SECTION("no cap: the 6 smallest of 12 wherever they are") {
    // ascending: 0.5b 1a 1.5b 2a 2.5b 3a -> a loses 3 of 8, b 3 of 4.
    auto r = globalMagnitudeMasks({a, b}, {0.5});
    CHECK(r.target == 6);
    CHECK(r.pruned == std::vector<int64_t>{3, 3});
    CHECK(r.masks[1].equal(doubles({0, 0, 0, 1})));
    CHECK(r.capped.empty());
  }
  SECTION("cap 0.5: b stops at 2, a makes up the remainder, still 6") {
    // after 0.5b 1a 1.5b 2a 3a (2.5b skipped: b is at its cap of 2), 3.5b is skipped, 4a taken.
    auto r = globalMagnitudeMasks({a, b}, {0.5, 0.5});
    CHECK(r.pruned == std::vector<int64_t>{4, 2});
    CHECK(r.masks[0].equal(doubles({0, 0, 0, 0, 1, 1, 1, 1})));
    CHECK(r.masks[1].equal(doubles({0, 0, 1, 1})));
    CHECK(r.capped == std::vector<size_t>{1});
  }
  SECTION("layers under min_elements are left dense and reported") {
    auto r = globalMagnitudeMasks({a, b}, {0.5, 1.0, 5});
    CHECK(r.skipped == std::vector<size_t>{1});
    CHECK(r.eligible == 8);
    CHECK(r.pruned == std::vector<int64_t>{4, 0});
    CHECK(r.masks[1].equal(at::ones({4}, at::kDouble)));
  }
  SECTION("a cap that cannot hold the target is refused") {
    CHECK_THROWS_WITH(globalMagnitudeMasks({a, b}, {0.9, 0.5}), Catch::Contains("at most 6"));
  }
  SECTION("random layers: the count is exact, caps hold, one threshold among uncapped layers") {
    at::manual_seed(11);
    std::vector<at::Tensor> layers{at::randn({64, 3, 3, 3}).abs(), at::randn({10}).abs() * 0.01,
                                   at::randn({32, 64}).abs(), at::randn({7, 5}).abs()};
    auto r = globalMagnitudeMasks(layers, {0.37, 0.6});
    int64_t total = 0, eligible = 0;
    for (size_t i = 0; i < layers.size(); ++i) {
      total += r.pruned[i];
      eligible += layers[i].numel();
      CHECK(zeros(r.masks[i]) == r.pruned[i]);
      CHECK(r.pruned[i] <= static_cast<int64_t>(0.6 * layers[i].numel() + 1e-9));
    }
    CHECK(total == std::llround(0.37 * eligible));
    CHECK(r.capped == std::vector<size_t>{1});  // the tiny-valued layer hits its cap
    double prunedMax = 0, keptMin = 1e30;
    for (size_t i : {0, 2, 3}) {
      auto pruned = layers[i].masked_select(r.masks[i] == 0), kept = layers[i].masked_select(r.masks[i] == 1);
      if (pruned.numel()) prunedMax = std::max(prunedMax, pruned.max().item<double>());
      keptMin = std::min(keptMin, kept.min().item<double>());
    }
    CHECK(prunedMax <= keptMin);
  }
}
