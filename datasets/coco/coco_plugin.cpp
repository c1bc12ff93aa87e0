// The "coco" dataset: COCO-format detection (instances JSON + image folder).
//   data:
//     dataset: coco
//     train_json: annotations/instances_train2017.json
//     train_images: train2017
//     val_json: annotations/instances_val2017.json
//     val_images: val2017
// Category ids (arbitrary, sparse in COCO) map to contiguous labels in id
// order; classes() are their names. Images are taken in id order (as
// torchvision's CocoDetection) and keep their COCO id (Example::image_id) for
// evaluation; bbox [x, y, w, h] becomes corners (x, y, x + w, y + h) and
// iscrowd is kept on the box. Categories named in `skip_categories` (by
// default labelme's "_background_" and "__ignore__", which tools that export
// COCO from segmentation labels add) get no label, and their annotations are
// dropped. A reference to a missing image or category, a duplicate id or a
// malformed field is an InputError naming the JSON file and the annotation.
// Fields the detector has no use for (segmentation, area, url, ...) are ignored.
#include <edgeopt/dataset.h>
#include <edgeopt/error.h>
#include <edgeopt/fileutil.h>
#include <edgeopt/image_io.h>
#include <edgeopt/options.h>
#include <edgeopt/plugin.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

namespace {

using edgeopt::InputError;
using edgeopt::Split;
using nlohmann::json;

struct CocoImage {
  int64_t id = 0;
  std::string path;
  int width = 0, height = 0;  // 0: not given
  std::vector<edgeopt::Box> boxes;
};

struct Category {
  int64_t id;
  std::string name;
  bool operator==(const Category& o) const { return id == o.id && name == o.name; }
};

// Checked field access: every malformed entry names the file and the entry.
const json& field(const json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) throw InputError(where + ": missing '" + key + "'");
  return *it;
}
int64_t intField(const json& j, const char* key, const std::string& where) {
  const json& v = field(j, key, where);
  if (!v.is_number_integer()) throw InputError(where + ": '" + key + "' must be an integer, got " + v.dump());
  return v.get<int64_t>();
}
std::string stringField(const json& j, const char* key, const std::string& where) {
  const json& v = field(j, key, where);
  if (!v.is_string()) throw InputError(where + ": '" + key + "' must be a string, got " + v.dump());
  return v.get<std::string>();
}
const json& arrayField(const json& j, const char* key, const std::string& where) {
  const json& v = field(j, key, where);
  if (!v.is_array()) throw InputError(where + ": '" + key + "' must be a list");
  return v;
}
std::string entryName(const char* kind, const json& j, size_t index) {
  auto id = j.is_object() ? j.find("id") : j.end();
  if (j.is_object() && id != j.end() && id->is_number_integer()) return std::string(kind) + " " + id->dump();
  return std::string(kind) + " #" + std::to_string(index);
}

struct CocoSplit {
  std::string json_path;
  std::vector<CocoImage> images;
  std::vector<Category> categories;  // sorted by id
  std::string sha256;
};

CocoSplit parse(const std::string& json_path, const std::string& image_dir, const std::set<std::string>& skip) {
  CocoSplit s;
  s.json_path = json_path;
  const std::string text = edgeopt::readFile(json_path);
  s.sha256 = edgeopt::sha256(text);
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    throw InputError(json_path + ": not valid JSON (" + e.what() + ")");
  }
  if (!doc.is_object()) throw InputError(json_path + ": expected a COCO object {images, annotations, categories}");

  std::map<int64_t, size_t> category_label;
  std::set<int64_t> seen, skipped;
  size_t n = 0;
  for (const json& c : arrayField(doc, "categories", json_path)) {
    const std::string where = json_path + ": " + entryName("category", c, n++);
    Category category{intField(c, "id", where), stringField(c, "name", where)};
    if (!seen.insert(category.id).second)
      throw InputError(json_path + ": category id " + std::to_string(category.id) + " appears twice");
    if (skip.count(category.name)) skipped.insert(category.id);
    else s.categories.push_back(category);
  }
  std::sort(s.categories.begin(), s.categories.end(), [](auto& a, auto& b) { return a.id < b.id; });
  for (size_t i = 0; i < s.categories.size(); ++i) category_label.emplace(s.categories[i].id, i);

  std::map<int64_t, CocoImage> images;  // sorted by id
  n = 0;
  for (const json& im : arrayField(doc, "images", json_path)) {
    const std::string where = json_path + ": " + entryName("image", im, n++);
    CocoImage ci;
    ci.id = intField(im, "id", where);
    ci.path = (std::filesystem::path(image_dir) / stringField(im, "file_name", where)).string();
    if (im.contains("width")) ci.width = static_cast<int>(intField(im, "width", where));
    if (im.contains("height")) ci.height = static_cast<int>(intField(im, "height", where));
    if (!images.emplace(ci.id, ci).second)
      throw InputError(where + ": image id " + std::to_string(ci.id) + " appears twice");
  }

  n = 0;
  if (doc.contains("annotations")) {
    for (const json& a : arrayField(doc, "annotations", json_path)) {
      const std::string where = json_path + ": " + entryName("annotation", a, n++);
      const int64_t image_id = intField(a, "image_id", where), category_id = intField(a, "category_id", where);
      auto im = images.find(image_id);
      if (im == images.end()) throw InputError(where + ": image_id " + std::to_string(image_id) + " is not in images");
      if (skipped.count(category_id)) continue;
      auto cat = category_label.find(category_id);
      if (cat == category_label.end())
        throw InputError(where + ": category_id " + std::to_string(category_id) + " is not in categories");
      const json& bbox = field(a, "bbox", where);
      if (!bbox.is_array() || bbox.size() != 4 || !std::all_of(bbox.begin(), bbox.end(), [](auto& v) { return v.is_number(); }))
        throw InputError(where + ": 'bbox' must be [x, y, width, height], got " + bbox.dump());
      const double x = bbox[0], y = bbox[1], w = bbox[2], h = bbox[3];
      if (w < 0 || h < 0) throw InputError(where + ": 'bbox' has a negative size: " + bbox.dump());
      edgeopt::Box b;
      b.x1 = float(x), b.y1 = float(y), b.x2 = float(x + w), b.y2 = float(y + h);
      b.label = static_cast<int64_t>(cat->second);
      b.crowd = a.contains("iscrowd") && intField(a, "iscrowd", where) != 0;
      im->second.boxes.push_back(b);
    }
  }
  for (auto& [id, im] : images) s.images.push_back(std::move(im));
  return s;
}

class CocoDataset : public edgeopt::Dataset {
 public:
  CocoDataset(std::optional<CocoSplit> train, std::optional<CocoSplit> val)
      : train_(std::move(train)), val_(std::move(val)) {
    const CocoSplit& first = train_ ? *train_ : *val_;
    if (train_ && val_ && train_->categories != val_->categories)
      throw InputError(val_->json_path + ": its categories differ from " + train_->json_path +
                       "'s (the labels would not match)");
    for (const auto& c : first.categories) classes_.push_back(c.name);
  }

  size_t size(Split s) const override { return of(s) ? of(s)->images.size() : 0; }

  edgeopt::Example get(Split s, size_t index) const override {
    if (index >= size(s)) throw edgeopt::RuntimeFailure("coco: index " + std::to_string(index) + " out of range");
    const CocoSplit& split = *of(s);
    const CocoImage& im = split.images[index];
    edgeopt::Example e;
    e.image = edgeopt::readImage(im.path, 3);
    // Boxes are in the JSON's pixel grid: a different image size means they'd be wrong.
    if ((im.width && im.width != e.image.cols) || (im.height && im.height != e.image.rows))
      throw InputError(im.path + ": is " + std::to_string(e.image.cols) + "x" + std::to_string(e.image.rows) +
                       " but " + split.json_path + " says " + std::to_string(im.width) + "x" +
                       std::to_string(im.height));
    e.boxes = im.boxes;
    e.image_id = im.id;
    e.source = im.path;
    return e;
  }

  const std::vector<std::string>& classes() const override { return classes_; }

  // The JSON's hash and the size of every image it names (a missing image
  // counts as size -1): stat() of 6000 images costs about 10 ms, reading them
  // would cost seconds.
  std::string fingerprint() const override {
    std::string f = "coco";
    for (const auto* s : {&train_, &val_}) {
      if (!*s) continue;
      std::string sizes;
      for (const auto& im : (*s)->images) {
        std::error_code ec;
        const auto bytes = std::filesystem::file_size(im.path, ec);
        sizes += std::to_string(ec ? -1 : int64_t(bytes)) + "\n";
      }
      f += " " + (*s)->json_path + ":images=" + std::to_string((*s)->images.size()) + ":sha256=" + (*s)->sha256 +
           ":image_sizes_sha256=" + edgeopt::sha256(sizes);
    }
    return f;
  }

 private:
  const std::optional<CocoSplit>& of(Split s) const { return s == Split::Train ? train_ : val_; }
  std::optional<CocoSplit> train_, val_;
  std::vector<std::string> classes_;
};

edgeopt::OptionSchema schema() {
  using edgeopt::OptionType;
  edgeopt::OptionSchema s;
  s.add("train_json", OptionType::Path).help("COCO instances JSON of the training split");
  s.add("train_images", OptionType::Path).help("folder the training JSON's file_name entries are in");
  s.add("val_json", OptionType::Path).help("COCO instances JSON of the validation split");
  s.add("val_images", OptionType::Path).help("folder the validation JSON's file_name entries are in");
  s.add("skip_categories", OptionType::StringList)
      .defaultValue(std::vector<std::string>{"_background_", "__ignore__"})
      .help("category names that get no label; their annotations are dropped");
  return s;
}

std::optional<CocoSplit> openSplit(const edgeopt::Options& o, const std::string& split) {
  const std::string j = split + "_json", im = split + "_images";
  if (o.has(j) != o.has(im)) o.fail(o.has(j) ? j : im, "needs " + (o.has(j) ? im : j) + " too");
  if (!o.has(j)) return std::nullopt;
  const auto& skip = o.get<std::vector<std::string>>("skip_categories");
  return parse(o.get<std::string>(j), o.get<std::string>(im), {skip.begin(), skip.end()});
}

void registerCoco(edgeopt::PluginRegistrar& r) {
  r.add<edgeopt::Dataset>(
      "coco", {"COCO detection: instances JSON + image folder", schema(),
               [](const edgeopt::Options& o) -> std::unique_ptr<edgeopt::Dataset> {
                 auto train = openSplit(o, "train");
                 auto val = openSplit(o, "val");
                 if (!train && !val) o.fail("train_json", "give train_json + train_images and/or val_json + val_images");
                 return std::make_unique<CocoDataset>(std::move(train), std::move(val));
               }});
}

}  // namespace

EDGEOPT_PLUGIN("0.1.0", "COCO detection datasets", registerCoco)
