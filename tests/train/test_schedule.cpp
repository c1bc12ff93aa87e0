// Learning-rate schedules against hand-computed values.
#include <edgeopt/trainer.h>

#include "test_support.h"

#include <cmath>

using edgeopt::learningRate;
using edgeopt::TrainConfig;

TEST_CASE("learning-rate schedules and warm-up", "[train]") {
  TrainConfig c;
  c.epochs = 10;
  c.lr = 0.4;
  c.schedule = "cosine";
  CHECK(learningRate(c, 0) == Approx(0.4));
  CHECK(learningRate(c, 5) == Approx(0.2));
  CHECK(learningRate(c, 10) == Approx(0.0).margin(1e-12));
  c.min_lr = 0.04;
  CHECK(learningRate(c, 5) == Approx(0.22));
  c.min_lr = 0;

  c.warmup_epochs = 2;
  c.warmup_factor = 0.1;
  CHECK(learningRate(c, 0) == Approx(0.04));
  CHECK(learningRate(c, 1) == Approx(0.4 * 0.5 * (1 + std::cos(M_PI * 0.1)) * 0.55));
  CHECK(learningRate(c, 2) == Approx(0.4 * 0.5 * (1 + std::cos(M_PI * 0.2))));
  c.warmup_epochs = 0;

  c.schedule = "step";
  c.step_size = 3;
  c.gamma = 0.5;
  CHECK(learningRate(c, 2.9) == Approx(0.4));
  CHECK(learningRate(c, 3) == Approx(0.2));
  CHECK(learningRate(c, 6.5) == Approx(0.1));

  c.schedule = "multistep";
  c.milestones = {2, 7};
  CHECK(learningRate(c, 1.99) == Approx(0.4));
  CHECK(learningRate(c, 2) == Approx(0.2));
  CHECK(learningRate(c, 9) == Approx(0.1));

  c.schedule = "onecycle";
  CHECK(learningRate(c, 0) == Approx(0.4 / 25));
  CHECK(learningRate(c, 3) == Approx(0.4));
  CHECK(learningRate(c, 10) == Approx(0.4 / 25 / 1e4));

  c.schedule = "constant";
  CHECK(learningRate(c, 7) == Approx(0.4));
}
