// A small but real plugin for the runner tests: a tiny model source, a stage
// that updates the model's parameters epoch by epoch and saves resumable
// progress, and one that fails on purpose.
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/builder.h>
#include <edgeopt/model_source.h>
#include <edgeopt/plugin.h>
#include <edgeopt/stage.h>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <csignal>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace {

// Epoch e adds 0.01 * (e + 1) to every parameter: the final weights tell
// whether each epoch ran exactly once, which is what resume must guarantee.
class ToyTrain : public edgeopt::Stage {
 public:
  explicit ToyTrain(const edgeopt::Options& o)
      : epochs_(o.get<int64_t>("epochs")),
        kill_after_(o.get<int64_t>("kill_after_epoch")),
        interrupt_after_(o.get<int64_t>("interrupt_after_epoch")) {}

  std::vector<std::string> plan(const edgeopt::GraphModule&) const override {
    return {"epochs: " + std::to_string(epochs_)};
  }

  void run(edgeopt::StageContext& ctx) override {
    int64_t start = 0;
    if (auto state = ctx.resumedProgress()) start = std::stoll(*state);
    for (int64_t e = start; e < epochs_; ++e) {
      {
        c10::NoGradGuard no_grad;
        for (auto& p : ctx.model().parameters()) p.add_(0.01 * static_cast<double>(e + 1));
      }
      ctx.saveProgress(std::to_string(e + 1));
      if (e == kill_after_) ::kill(::getpid(), SIGKILL);  // as `kill -9` would
      if (e == interrupt_after_) ::kill(::getpid(), SIGINT);  // as Ctrl-C would
    }
  }

 private:
  int64_t epochs_, kill_after_, interrupt_after_;
};

// conv3x3 -> BN -> ReLU -> global pool -> flatten -> linear, named like torchvision.
class ToyModel : public edgeopt::ModelSource {
 public:
  explicit ToyModel(const edgeopt::Options& o)
      : channels_(o.get<int64_t>("channels")), classes_(o.get<int64_t>("num_classes")),
        size_(o.get<int64_t>("input_size")) {}
  std::shared_ptr<edgeopt::GraphModule> load() override {
    using namespace edgeopt::ir;
    ModelBuilder b;
    Value* x = b.input("x");
    {
      auto s = b.module("features", "Sequential");
      x = b.conv2d("0", x, Conv2dOptions(3, channels_, 3).padding(1).bias(false));
      x = b.batchNorm2d("1", x, channels_);
      x = b.relu("2", x);
    }
    x = b.adaptiveAvgPool2d("avgpool", x, {1, 1});
    x = b.flatten("flatten", x);
    x = b.linear("fc", x, channels_, classes_);
    b.output({x});
    auto model = b.finish();
    model->setExampleInputShapes({{1, 3, size_, size_}});
    return model;
  }

 private:
  int64_t channels_, classes_, size_;
};

class Fail : public edgeopt::Stage {
 public:
  void run(edgeopt::StageContext&) override { throw std::runtime_error("deliberate failure"); }
};

void registerToyTrain(edgeopt::PluginRegistrar& r) {
  edgeopt::ModelSourceFactory toy;
  toy.summary = "a tiny conv net (test model)";
  toy.options.add("channels", edgeopt::OptionType::Int).defaultValue(int64_t{4}).range(1, 256);
  toy.options.add("num_classes", edgeopt::OptionType::Int).defaultValue(int64_t{3}).range(1, 1000);
  toy.options.add("input_size", edgeopt::OptionType::Int).defaultValue(int64_t{8}).range(1, 512);
  toy.create = [](const edgeopt::Options& o) { return std::make_unique<ToyModel>(o); };
  r.add<edgeopt::ModelSource>("toy", std::move(toy));

  edgeopt::StageFactory train;
  train.summary = "adds 0.01*(epoch+1) to every parameter each epoch (test stage)";
  train.options.add("epochs", edgeopt::OptionType::Int).defaultValue(int64_t{3}).range(1, 1000);
  train.options.add("kill_after_epoch", edgeopt::OptionType::Int).defaultValue(int64_t{-1});
  train.options.add("interrupt_after_epoch", edgeopt::OptionType::Int).defaultValue(int64_t{-1});
  train.options.add("layers", edgeopt::OptionType::Selectors).help("layers to report in the plan");
  train.create = [](const edgeopt::Options& o) { return std::make_unique<ToyTrain>(o); };
  r.add<edgeopt::Stage>("toy_train", std::move(train));

  edgeopt::StageFactory fail;
  fail.summary = "always throws (test stage)";
  fail.create = [](const edgeopt::Options&) { return std::make_unique<Fail>(); };
  r.add<edgeopt::Stage>("fail", std::move(fail));
}

}  // namespace

EDGEOPT_PLUGIN("1.2.3", "test stages for the runner tests", registerToyTrain)
