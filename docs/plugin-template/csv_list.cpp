// A template dataset loader: `csv_list` reads image classification data listed
// in CSV files, one `relative/image/path,class_name` line per example:
//   data:
//     dataset: csv_list
//     root: data/pets          # holds train.csv, val.csv and the images
//     classes: [cat, dog]      # label = position in this list
// Paths are relative to root (or absolute); the class is after the last comma,
// so paths may contain commas. Empty lines, lines starting with '#' and one
// `path,label` header line are skipped. Without val.csv, val is empty.
// Images decode with edgeopt::readImage, as the built-in `imagenet` folders
// do; the recipe's train_transforms/val_transforms, batching and shuffling are
// the core loader's, so a plugin only lists and decodes examples.
#include <edgeopt/dataset.h>
#include <edgeopt/error.h>
#include <edgeopt/fileutil.h>
#include <edgeopt/image_io.h>
#include <edgeopt/options.h>
#include <edgeopt/plugin.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace fs = std::filesystem;

namespace {

struct Item {
  std::string path;   // as the loader opens it
  std::string where;  // "<csv file>:<line>", for messages
  int64_t label;
};

class CsvListDataset : public edgeopt::Dataset {
 public:
  CsvListDataset(const std::string& root, const std::vector<std::string>& classes, int channels)
      : root_(root), classes_(classes), channels_(channels) {
    for (size_t c = 0; c < classes_.size(); ++c) index_[classes_[c]] = static_cast<int64_t>(c);
    const fs::path train = fs::path(root) / "train.csv", val = fs::path(root) / "val.csv";
    if (!fs::is_regular_file(train)) throw edgeopt::InputError(train.string() + ": no such file");
    train_ = readList(train.string());
    if (fs::exists(val)) val_ = readList(val.string());
  }

  size_t size(edgeopt::Split s) const override { return of(s).size(); }

  // Called from the loader's worker threads: reads only const members.
  edgeopt::Example get(edgeopt::Split s, size_t index) const override {
    const Item& item = of(s).at(index);
    edgeopt::Example e;
    try {
      e.image = edgeopt::readImage(item.path, channels_);
    } catch (const edgeopt::InputError& error) {  // undecodable, truncated, removed since
      throw edgeopt::InputError(item.where + ": " + error.what());
    }
    e.label = item.label;
    e.source = item.path;
    return e;
  }

  const std::vector<std::string>& classes() const override { return classes_; }

  // Both lists with each file's path under root, size and label: it changes
  // when an example is added, removed, relabelled or rewritten, not when the
  // folder moves (and it is cheaper than hashing every image).
  std::string fingerprint() const override {
    std::ostringstream list;
    for (const auto* items : {&train_, &val_}) {
      list << (items == &train_ ? "train\n" : "val\n");
      for (const Item& it : *items) {
        std::error_code ec;
        const auto bytes = fs::file_size(it.path, ec);
        const fs::path rel = fs::path(it.path).lexically_relative(root_);  // empty: not expressible
        list << (rel.empty() ? it.path : rel.string()) << ' ' << (ec ? -1 : static_cast<int64_t>(bytes)) << ' '
             << it.label << '\n';
      }
    }
    return "csv_list train=" + std::to_string(train_.size()) + " val=" + std::to_string(val_.size()) +
           " sha256=" + edgeopt::sha256(list.str());
  }

 private:
  const std::vector<Item>& of(edgeopt::Split s) const { return s == edgeopt::Split::Train ? train_ : val_; }

  // Every line is checked here, before training starts: a bad line stops the
  // run with "<file>:<line>: <what is wrong>", exit code 5.
  std::vector<Item> readList(const std::string& file) const {
    std::ifstream in(file);
    if (!in) throw edgeopt::InputError(file + ": cannot be read");
    std::vector<Item> items;
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF files
      if (line.empty() || line[0] == '#' || (n == 1 && line == "path,label")) continue;
      const std::string where = file + ":" + std::to_string(n);
      const auto comma = line.rfind(',');
      if (comma == std::string::npos || comma == 0)
        throw edgeopt::InputError(where + ": expected \"relative/image/path,class_name\", got \"" + line + "\"");
      const std::string rel = line.substr(0, comma), name = line.substr(comma + 1);
      const auto label = index_.find(name);
      if (label == index_.end())
        throw edgeopt::InputError(where + ": class '" + name + "' is not one of the recipe's `classes`");
      const fs::path path = fs::path(rel).is_absolute() ? fs::path(rel) : fs::path(root_) / rel;
      if (!fs::is_regular_file(path)) throw edgeopt::InputError(where + ": " + path.string() + ": no such file");
      items.push_back({path.string(), where, label->second});
    }
    if (items.empty()) throw edgeopt::InputError(file + ": lists no images");
    return items;
  }

  std::string root_;
  std::vector<std::string> classes_;
  int channels_;
  std::map<std::string, int64_t> index_;
  std::vector<Item> train_, val_;
};

void registerCsvList(edgeopt::PluginRegistrar& registrar) {
  edgeopt::DatasetFactory dataset;
  dataset.summary = "images listed in root/train.csv and root/val.csv (path,class_name lines)";
  dataset.options.add("root", edgeopt::OptionType::Path).required().help("folder with train.csv, val.csv");
  dataset.options.add("classes", edgeopt::OptionType::StringList).required().help("class names; label = position");
  dataset.options.add("channels", edgeopt::OptionType::Int).defaultValue(int64_t{3}).choices({"1", "3"});
  dataset.create = [](const edgeopt::Options& o) -> std::unique_ptr<edgeopt::Dataset> {
    const auto& classes = o.get<std::vector<std::string>>("classes");
    if (classes.empty()) o.fail("classes", "lists no class");
    for (size_t c = 1; c < classes.size(); ++c)
      for (size_t d = 0; d < c; ++d)
        if (classes[c] == classes[d]) o.fail("classes", "'" + classes[c] + "' is listed twice");
    try {
      return std::make_unique<CsvListDataset>(o.get<std::string>("root"), classes,
                                              static_cast<int>(o.get<int64_t>("channels")));
    } catch (const fs::filesystem_error& e) {  // permissions, a vanished folder, ...
      throw edgeopt::InputError(e.path1().string() + ": " + e.code().message());
    }
  };
  registrar.add<edgeopt::Dataset>("csv_list", std::move(dataset));
}

}  // namespace

EDGEOPT_PLUGIN("1.0.0", "CSV-listed image classification dataset (template plugin)", registerCsvList)
