// The loader options every dataset accepts in the recipe's `data:` section.
#include <edgeopt/data_loader.h>

namespace edgeopt {

const char* toString(Split s) { return s == Split::Train ? "train" : "val"; }

void addDataLoaderOptions(OptionSchema& s) {
  s.add("batch_size", OptionType::Int).defaultValue(int64_t{32}).range(1, 1 << 20).help("training batch size");
  s.add("val_batch_size", OptionType::Int).range(1, 1 << 20).help("evaluation batch size (default: batch_size)");
  s.add("workers", OptionType::Int).defaultValue(int64_t{2}).range(0, 256).help("decode/augment threads; 0 = inline");
  s.add("shuffle", OptionType::Bool).defaultValue(true).help("shuffle the training split each epoch");
  s.add("drop_last", OptionType::Bool).defaultValue(false).help("drop the last incomplete training batch");
  s.add("on_bad_data", OptionType::String)
      .defaultValue(std::string("error"))
      .choices({"error", "skip"})
      .help("an unreadable example stops the run, or is skipped and counted");
  s.add("train_transforms", OptionType::List).help("training transform pipeline (OpenCV)");
  s.add("val_transforms", OptionType::List).help("evaluation transform pipeline (OpenCV)");
}

LoaderOptions loaderOptions(const Options& data, Split split, uint64_t seed) {
  LoaderOptions o;
  const bool train = split == Split::Train;
  o.batch_size = train ? data.get<int64_t>("batch_size") : data.getOr<int64_t>("val_batch_size", data.get<int64_t>("batch_size"));
  o.shuffle = train && data.get<bool>("shuffle");
  o.drop_last = train && data.get<bool>("drop_last");
  o.seed = seed;
  o.workers = static_cast<int>(data.get<int64_t>("workers"));
  o.skip_bad = data.get<std::string>("on_bad_data") == "skip";
  return o;
}

}  // namespace edgeopt
