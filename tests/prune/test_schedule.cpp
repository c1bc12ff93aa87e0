// Pruning schedules against hand-computed factors (schedule.h has the
// formulas). Epochs are 0-based; the formulas read n = epoch + 1.
#include <edgeopt/prune/masks.h>
#include <edgeopt/prune/schedule.h>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

using namespace edgeopt::prune;

TEST_CASE("blend: 1 for the init epochs, ((knee - n) / (knee - init))^p, then 0", "[prune][schedule]") {
  PruneSchedule s{20, 5, 2.0};
  CHECK(s.knee() == 15);  // 5 + floor(2 * 15 / 3)
  CHECK(blendFactor(s, 0) == 1.0);
  CHECK(blendFactor(s, 4) == 1.0);                      // n = 5 = init
  CHECK(blendFactor(s, 5) == Approx(0.81).epsilon(1e-12));  // n = 6: (9/10)^2
  CHECK(blendFactor(s, 9) == Approx(0.25).epsilon(1e-12));  // n = 10: (5/10)^2
  CHECK(blendFactor(s, 13) == Approx(0.01).epsilon(1e-12)); // n = 14: (1/10)^2
  CHECK(blendFactor(s, 14) == 0.0);                     // n = 15 = knee
  CHECK(blendFactor(s, 19) == 0.0);                     // last epoch
  PruneSchedule cubic{20, 5, 3.0};
  CHECK(blendFactor(cubic, 9) == Approx(0.125).epsilon(1e-12));  // (5/10)^3
  // Many init epochs: the knee still follows them (TI's would be 6, before them).
  PruneSchedule late{20, 10, 2.0};
  CHECK(late.knee() == 16);
  CHECK(blendFactor(late, 12) == Approx(9.0 / 36).epsilon(1e-12));  // n = 13: (3/6)^2
  // Fewer than two pruning epochs: knee == init, straight to 0.
  PruneSchedule short_{6, 5, 2.0};
  CHECK(short_.knee() == 5);
  CHECK(blendFactor(short_, 5) == 0.0);
  CHECK_THROWS_WITH(blendFactor(PruneSchedule{5, 5, 2.0}, 0), Catch::Contains("init_epochs"));
  CHECK(softMask(at::tensor({1.0, 0.0, 1.0, 0.0}), blendFactor(s, 9)).equal(at::tensor({1.0, 0.25, 1.0, 0.25})));
}

TEST_CASE("incremental: the ratio grows linearly to the knee, then holds", "[prune][schedule]") {
  PruneSchedule s{20, 5, 2.0};
  CHECK(incrementalRatio(s, 4, 0.6) == 0.0);                       // n = 5: dense
  CHECK(incrementalRatio(s, 5, 0.6) == Approx(0.06).epsilon(1e-12));  // 0.6 * 1/10
  CHECK(incrementalRatio(s, 9, 0.6) == Approx(0.3).epsilon(1e-12));   // 0.6 * 5/10
  CHECK(incrementalRatio(s, 14, 0.6) == 0.6);                      // the knee
  CHECK(incrementalRatio(s, 17, 0.6) == 0.6);                      // TI: 0.6 * 13/10 = 0.78
}

TEST_CASE("sigmoid: hardsigmoid(3 + x s - 8 s) for pruned weights, s = (n - init) / total", "[prune][schedule]") {
  PruneSchedule s{20, 5, 2.0};
  CHECK(sigmoidFactor(s, 4, -1.0, false) == 1.0);                          // init epochs
  CHECK(sigmoidFactor(s, 9, 0.7, true) == 1.0);                            // kept
  CHECK(sigmoidFactor(s, 9, -1.0, false) == Approx(0.625).epsilon(1e-12));  // s = 0.25: (6 - 0.25 - 2) / 6
  CHECK(sigmoidFactor(s, 9, 0.0, false) == Approx(4.0 / 6).epsilon(1e-12));  // (6 - 2) / 6
  CHECK(sigmoidFactor(s, 11, -0.5, false) == Approx(3.025 / 6).epsilon(1e-12));  // s = 0.35: (6 - 0.175 - 2.8) / 6
  CHECK(sigmoidFactor(s, 19, 0.0, false) == 0.0);                          // s = 0.75: (6 - 6) / 6

  // Importances 1 2 3 4, the two smallest pruned: threshold (2 + 3) / 2 = 2.5,
  // offsets -1.5 -0.5 0.5 1.5, x = -1 and -1/3 for the pruned ones.
  auto imp = at::tensor({1.0, 2.0, 3.0, 4.0});
  auto keep = at::tensor({0.0, 0.0, 1.0, 1.0});
  auto offsets = thresholdOffsets(imp, keep);
  CHECK(offsets.equal(at::tensor({-1.5, -0.5, 0.5, 1.5})));
  auto f = sigmoidFactors(s, 9, offsets, keep);
  CHECK(f[0].item<double>() == Approx(0.625).epsilon(1e-12));
  CHECK(f[1].item<double>() == Approx((6 - 0.25 / 3 - 2) / 6).epsilon(1e-12));  // 0.652777...
  CHECK(f[2].item<double>() == 1.0);
  CHECK(f[3].item<double>() == 1.0);
}

TEST_CASE("sigmoid on N:M and per-channel masks: thresholds per group", "[prune][schedule][n2m]") {
  // linear [1, 8], 2:4: groups (1 2 3 4) and (10 20 30 40), thresholds 2.5 and 25.
  auto imp = at::tensor({1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0}).reshape({1, 8});
  auto keep = nmMask(imp, 2, 4);
  auto offsets = thresholdOffsets(imp, keep, MaskGroups::nm(4));
  CHECK(offsets.equal(at::tensor({-1.5, -0.5, 0.5, 1.5, -15.0, -5.0, 5.0, 15.0}).reshape({1, 8})));
  // Normalized by the largest offset (15): x = -0.1, -1/30, ..., -1, -1/3; s = 0.25 at epoch 9.
  auto f = sigmoidFactors(PruneSchedule{20, 5, 2.0}, 9, offsets, keep).reshape({-1});
  CHECK(f[0].item<double>() == Approx((6 - 0.1 * 0.25 - 2) / 6).epsilon(1e-12));
  CHECK(f[4].item<double>() == Approx(0.625).epsilon(1e-12));
  CHECK(f[2].item<double>() == 1.0);
  CHECK(f[7].item<double>() == 1.0);

  // Per channel: row 0 (4 3 2 1) keeps 4 3 (t = 2.5), row 1 (1 1 8 8) keeps 8 8 (t = 4.5).
  auto rows = at::tensor({4.0, 3.0, 2.0, 1.0, 1.0, 1.0, 8.0, 8.0}).reshape({2, 4});
  auto perRow = thresholdOffsets(rows, perChannelUnstructuredMask(rows, 0.5), MaskGroups::perOutputChannel());
  CHECK(perRow.equal(at::tensor({1.5, 0.5, -0.5, -1.5, -3.5, -3.5, 3.5, 3.5}).reshape({2, 4})));
  // Nothing pruned in the whole tensor: t is the least kept value, offsets >= 0.
  CHECK(thresholdOffsets(imp, at::ones_like(imp)).min().item<double>() == 0.0);
}
