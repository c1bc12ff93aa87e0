// The "imagenet" dataset: an image folder tree, as torchvision's ImageFolder.
//   data:
//     dataset: imagenet
//     root: data/fashion-mnist     # root/train/<class>/**/*.{jpg,jpeg,png,bmp}
//     val_labels: val.txt          # optional: "relative_path class_name" lines
//     channels: 3                  # 3: color (BGR decode, RGB to the model), 1: gray
// Classes are the sorted folder names of root/train (byte order = Python's
// sorted() for UTF-8 names); label = position. Files are taken in sorted
// order, walking subfolders like ImageFolder; hidden entries (".name") are
// skipped. Val comes from root/val/<class>/..., or from `val_labels`, whose
// paths are relative to root/val; without either, val is empty.
//
// Decoding (edgeopt::readImage): IMREAD_UNCHANGED, then gray images are
// replicated to 3 channels and alpha is dropped (channels: 3, like PIL's
// convert("RGB")), or color is converted to gray (channels: 1); EXIF
// orientation is ignored, as PIL does.
#include <edgeopt/dataset.h>
#include <edgeopt/error.h>
#include <edgeopt/fileutil.h>
#include <edgeopt/image_io.h>
#include <edgeopt/options.h>
#include <edgeopt/plugin.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace fs = std::filesystem;

namespace {

using edgeopt::InputError;
using edgeopt::Split;

struct Item {
  std::string path;
  int64_t label;
};

bool isImage(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp";
}

bool hidden(const fs::path& p) { return p.filename().string().rfind('.', 0) == 0; }

// Sorted visible subfolders of `dir`.
std::vector<std::string> classFolders(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && !hidden(e.path())) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// Images under `dir`, ordered like ImageFolder: by folder path, then name.
std::vector<std::string> imagesUnder(const fs::path& dir) {
  std::vector<std::pair<std::string, std::string>> found;
  auto it = fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink);
  for (; it != fs::recursive_directory_iterator(); ++it) {
    if (hidden(it->path())) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_directory() && isImage(it->path()))
      found.emplace_back(it->path().parent_path().string(), it->path().filename().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& [parent, name] : found) out.push_back((fs::path(parent) / name).string());
  return out;
}

class FolderDataset : public edgeopt::Dataset {
 public:
  FolderDataset(const std::string& root, const std::string& val_labels, int channels)
      : root_(root), channels_(channels) {
    const fs::path train = fs::path(root) / "train";
    if (!fs::is_directory(train))
      throw InputError(train.string() + ": no such folder (expected " + root +
                       "/train/<class>/<image>, as torchvision's ImageFolder)");
    classes_ = classFolders(train);
    if (classes_.empty()) throw InputError(train.string() + ": no class folders (expected train/<class>/<image>)");
    for (size_t c = 0; c < classes_.size(); ++c) index_[classes_[c]] = static_cast<int64_t>(c);
    scanTree(train, train_);
    const fs::path val = fs::path(root) / "val";
    if (!val_labels.empty()) readLabelFile(val_labels, val);
    else if (fs::is_directory(val)) scanTree(val, val_);
  }

  size_t size(Split s) const override { return of(s).size(); }

  edgeopt::Example get(Split s, size_t index) const override {
    const auto& items = of(s);
    if (index >= items.size()) throw edgeopt::RuntimeFailure("imagenet: index " + std::to_string(index) + " out of range");
    edgeopt::Example e;
    e.image = edgeopt::readImage(items[index].path, channels_);
    e.label = items[index].label;
    e.source = items[index].path;
    return e;
  }

  const std::vector<std::string>& classes() const override { return classes_; }

  // The file lists with their sizes: cheap next to hashing every image, and
  // it changes when a file is added, removed, renamed or rewritten.
  std::string fingerprint() const override {
    std::ostringstream list;
    for (const auto* items : {&train_, &val_}) {
      list << (items == &train_ ? "train\n" : "val\n");
      for (const auto& it : *items) {
        std::error_code ec;
        const auto bytes = fs::file_size(it.path, ec);
        list << fs::path(it.path).lexically_relative(root_).string() << ' ' << (ec ? -1 : int64_t(bytes)) << ' '
             << it.label << '\n';
      }
    }
    return "imagenet train=" + std::to_string(train_.size()) + " val=" + std::to_string(val_.size()) +
           " classes=" + std::to_string(classes_.size()) + " sha256=" + edgeopt::sha256(list.str());
  }

 private:
  const std::vector<Item>& of(Split s) const { return s == Split::Train ? train_ : val_; }

  void scanTree(const fs::path& dir, std::vector<Item>& out) {
    for (const auto& name : classFolders(dir)) {
      auto it = index_.find(name);
      if (it == index_.end())
        throw InputError((dir / name).string() + ": class '" + name + "' is not in " +
                         (fs::path(root_) / "train").string());
      auto files = imagesUnder(dir / name);
      if (files.empty()) throw InputError((dir / name).string() + ": no images (.jpg, .jpeg, .png, .bmp)");
      for (auto& f : files) out.push_back({std::move(f), it->second});
    }
  }

  void readLabelFile(const std::string& file, const fs::path& val_dir) {
    std::ifstream in(file);
    if (!in) throw InputError(file + ": cannot be read");
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      const auto first = line.find_first_not_of(" \t\r");
      if (first == std::string::npos || line[first] == '#') continue;
      line = line.substr(first, line.find_last_not_of(" \t\r") + 1 - first);
      const auto sep = line.find_last_of(" \t");  // the class is the last word; paths may hold spaces
      const std::string where = file + ":" + std::to_string(n) + ": ";
      if (sep == std::string::npos) throw InputError(where + "expected \"relative_path class_name\"");
      const std::string rel = line.substr(0, line.find_last_not_of(" \t", sep) + 1), cls = line.substr(sep + 1);
      auto it = index_.find(cls);
      if (it == index_.end())
        throw InputError(where + "class '" + cls + "' is not in " + (fs::path(root_) / "train").string());
      const fs::path p = fs::path(rel).is_absolute() ? fs::path(rel) : val_dir / rel;
      if (!fs::is_regular_file(p)) throw InputError(where + p.string() + ": no such file");
      val_.push_back({p.string(), it->second});
    }
  }

  std::string root_;
  int channels_;
  std::vector<std::string> classes_;
  std::map<std::string, int64_t> index_;
  std::vector<Item> train_, val_;
};

edgeopt::OptionSchema schema() {
  using edgeopt::OptionType;
  edgeopt::OptionSchema s;
  s.add("root", OptionType::Path).required().help("folder with train/<class>/<image> (and val/<class>/<image>)");
  s.add("val_labels", OptionType::Path).help("file of \"relative_path class_name\" lines; paths under root/val");
  s.add("channels", OptionType::Int).defaultValue(int64_t{3}).choices({"1", "3"}).help("3: color, 1: gray");
  return s;
}

void registerImagenet(edgeopt::PluginRegistrar& r) {
  r.add<edgeopt::Dataset>(
      "imagenet", {"image folders root/{train,val}/<class>/<image> (torchvision ImageFolder)", schema(),
                   [](const edgeopt::Options& o) -> std::unique_ptr<edgeopt::Dataset> {
                     const int channels = static_cast<int>(o.get<int64_t>("channels"));
                     try {
                       return std::make_unique<FolderDataset>(o.get<std::string>("root"),
                                                              o.getOr<std::string>("val_labels", ""), channels);
                     } catch (const fs::filesystem_error& e) {  // permissions, a vanished folder, ...
                       throw InputError(e.path1().string() + ": " + e.code().message());
                     }
                   }});
}

}  // namespace

EDGEOPT_PLUGIN("0.1.0", "ImageNet-style image folders", registerImagenet)
