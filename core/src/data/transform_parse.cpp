// Reads a transform list from the recipe (syntax in transforms.h). Each
// transform's options are an OptionSchema, so unknown keys, wrong types and
// missing values get the same file:line:col messages as every other option.
#include "transform_ops.h"

#include <edgeopt/options.h>

#include "../text_util.h"

#include <opencv2/imgproc.hpp>

#include <functional>
#include <map>
#include <sstream>

namespace edgeopt {

namespace {

using transforms::Size2;

struct TransformSpec {
  std::string primary;  // the option a shorthand value ({resize: 256}) sets; "" = none
  bool photometric = false;  // works on 8-bit pixels: must come before normalize
  bool pads = false;         // fills with a pixel value: must come before normalize
  OptionSchema schema;
  std::function<std::unique_ptr<Transform>(const Options&)> build;
};

[[noreturn]] void fail(const Options& o, const std::string& name, const std::string& msg) { o.fail(name, msg); }

Size2 parseSize(const Options& o, const std::string& name, bool shorter_side) {
  const auto& v = o.get<std::vector<int64_t>>(name);
  if (v.empty() || v.size() > 2) fail(o, name, "expected N or [height, width]");
  for (int64_t x : v)
    if (x < 1 || x > 65536) fail(o, name, "sizes must be between 1 and 65536 (got " + std::to_string(x) + ")");
  Size2 s;
  s.h = static_cast<int>(v[0]);
  s.w = static_cast<int>(v.size() == 2 ? v[1] : v[0]);
  s.shorter_side = shorter_side && v.size() == 1;
  return s;
}

int parseInterpolation(const Options& o) {
  const auto& v = o.get<std::string>("interpolation");
  return v == "area" ? cv::INTER_AREA : v == "nearest" ? cv::INTER_NEAREST : cv::INTER_LINEAR;
}

std::array<double, 2> parseRange(const Options& o, const std::string& name) {
  const auto& v = o.get<std::vector<double>>(name);
  if (v.size() != 2 || v[0] > v[1] || v[0] <= 0) fail(o, name, "expected [min, max] with 0 < min <= max");
  return {v[0], v[1]};
}

// torchvision's ColorJitter: x means [max(0, 1 - x), 1 + x] (hue: [-x, x]);
// [min, max] is taken as is.
std::optional<std::array<double, 2>> parseJitter(const Options& o, const std::string& name, bool hue) {
  if (!o.has(name)) return std::nullopt;
  const auto& v = o.get<std::vector<double>>(name);
  std::array<double, 2> r;
  if (v.size() == 1) {
    if (v[0] < 0) fail(o, name, "must be at least 0");
    r = hue ? std::array<double, 2>{-v[0], v[0]} : std::array<double, 2>{std::max(0.0, 1 - v[0]), 1 + v[0]};
  } else if (v.size() == 2 && v[0] <= v[1]) {
    r = {v[0], v[1]};
  } else {
    fail(o, name, "expected a number or [min, max]");
  }
  if (hue && (r[0] < -0.5 || r[1] > 0.5)) fail(o, name, "hue shifts must lie within [-0.5, 0.5]");
  if (!hue && r[0] < 0) fail(o, name, "factors must be at least 0");
  return r;
}

void addInterpolation(OptionSchema& s) {
  s.add("interpolation", OptionType::String)
      .defaultValue(std::string("linear"))
      .choices({"linear", "area", "nearest"})
      .help("OpenCV resize filter; area suits large downscales");
}

std::map<std::string, TransformSpec> buildTable() {
  std::map<std::string, TransformSpec> t;
  {
    auto& e = t["resize"];
    e.primary = "size";
    e.schema.add("size", OptionType::IntList).required().help("shorter side N, or [height, width]");
    addInterpolation(e.schema);
    e.build = [](const Options& o) { return transforms::makeResize(parseSize(o, "size", true), parseInterpolation(o)); };
  }
  {
    auto& e = t["center_crop"];
    e.primary = "size";
    e.schema.add("size", OptionType::IntList).required().help("N or [height, width]");
    e.build = [](const Options& o) { return transforms::makeCenterCrop(parseSize(o, "size", false)); };
  }
  {
    auto& e = t["random_resized_crop"];
    e.primary = "size";
    e.schema.add("size", OptionType::IntList).required().help("output N or [height, width]");
    e.schema.add("scale", OptionType::FloatList).defaultValue(std::vector<double>{0.08, 1.0}).help("area fraction range");
    e.schema.add("ratio", OptionType::FloatList).defaultValue(std::vector<double>{3.0 / 4.0, 4.0 / 3.0}).help("aspect ratio range");
    addInterpolation(e.schema);
    e.build = [](const Options& o) {
      auto scale = parseRange(o, "scale");
      if (scale[1] > 1) fail(o, "scale", "the area fraction can't exceed 1");
      return transforms::makeRandomResizedCrop(parseSize(o, "size", false), scale, parseRange(o, "ratio"),
                                               parseInterpolation(o));
    };
  }
  {
    auto& e = t["horizontal_flip"];
    e.primary = "p";
    e.schema.add("p", OptionType::Float).defaultValue(0.5).range(0, 1).help("flip probability");
    e.build = [](const Options& o) { return transforms::makeHorizontalFlip(o.get<double>("p")); };
  }
  {
    auto& e = t["color_jitter"];
    e.photometric = true;
    for (const char* k : {"brightness", "contrast", "saturation", "hue"})
      e.schema.add(k, OptionType::FloatList).help("x (torchvision's meaning) or [min, max]");
    e.build = [](const Options& o) {
      transforms::JitterRanges r{parseJitter(o, "brightness", false), parseJitter(o, "contrast", false),
                                 parseJitter(o, "saturation", false), parseJitter(o, "hue", true)};
      return transforms::makeColorJitter(r);
    };
  }
  t["grayscale_to_rgb"].build = [](const Options&) { return transforms::makeGrayscaleToRgb(); };
  t["to_rgb"].build = [](const Options&) { return transforms::makeToRgb(); };
  {
    auto& e = t["normalize"];
    e.photometric = true;
    e.schema.add("mean", OptionType::FloatList).required().help("per channel, RGB order, [0, 1] scale");
    e.schema.add("std", OptionType::FloatList).required().help("per channel, RGB order, [0, 1] scale");
    e.build = [](const Options& o) {
      auto mean = o.get<std::vector<double>>("mean"), sd = o.get<std::vector<double>>("std");
      if (mean.empty() || mean.size() > 4) fail(o, "mean", "expected 1 to 4 values");
      if (sd.size() != mean.size() && sd.size() != 1 && mean.size() != 1)
        fail(o, "std", "expected as many values as mean (" + std::to_string(mean.size()) + ") or one");
      // ImageNet's 123.675 / 58.395 are the classic slip: torchvision's scale is [0, 1].
      for (const char* k : {"mean", "std"})
        for (double x : o.get<std::vector<double>>(k))
          if (x < 0 || x > 1 || (x == 0 && k[0] == 's')) {
            std::ostringstream s;
            s << "values are in [0, 1] scale like torchvision's (got " << x << (x > 1 ? "; divide by 255)" : ")");
            fail(o, k, s.str());
          }
      return transforms::makeNormalize(mean, sd);
    };
  }
  {
    auto& e = t["letterbox"];
    e.primary = "size";
    e.pads = true;
    e.schema.add("size", OptionType::IntList).required().help("N or [height, width]");
    e.schema.add("fill", OptionType::Float).defaultValue(114.0).range(0, 255).help("padding pixel value");
    addInterpolation(e.schema);
    e.build = [](const Options& o) {
      return transforms::makeLetterbox(parseSize(o, "size", false), o.get<double>("fill"), parseInterpolation(o));
    };
  }
  return t;
}

const std::map<std::string, TransformSpec>& table() {
  static const auto t = buildTable();
  return t;
}

std::vector<std::string> names() {
  std::vector<std::string> out;
  for (const auto& [n, _] : table()) out.push_back(n);
  return out;
}

// "; did you mean 'horizontal_flip'?" for near misses and for a word that is
// part of a name ('flip', 'crop'), which edit distance alone wouldn't find.
std::string suggest(const std::string& word) {
  std::string s = didYouMean(word, names());
  if (!s.empty() || word.size() < 3) return s;
  std::vector<std::string> hits;
  for (const auto& n : names())
    if (n.find(word) != std::string::npos) hits.push_back("'" + n + "'");
  return hits.empty() ? "" : "; did you mean " + join(hits, " or ") + "?";
}

}  // namespace

void checkTransforms(const Options& data) {
  for (const char* name : {"train_transforms", "val_transforms"})
    if (data.has(name)) parseTransforms(data.get<ConfigNode>(name), data.key(name));
}

TransformPipeline parseTransforms(const ConfigNode& list, const std::string& key) {
  TransformPipeline pipeline;
  if (list.isNull()) return pipeline;
  if (!list.isSequence()) throw RecipeError(list.location(), key, "expected a list of transforms, got " + list.describe());
  bool normalized = false;
  for (size_t i = 0; i < list.items().size(); ++i) {
    const ConfigNode& item = list.items()[i];
    const std::string item_key = joinKey(key, std::to_string(i));
    std::string name;
    ConfigNode opts = ConfigNode::map(item.location());
    if (item.isScalar()) {
      name = item.value();
    } else if (item.isMap() && item.entries().size() == 1) {
      const auto& e = item.entries()[0];
      name = e.key;
      auto it = table().find(name);
      if (e.value.isMap()) {
        opts = e.value;
      } else if (!e.value.isNull() && it != table().end()) {
        if (it->second.primary.empty())
          throw RecipeError(e.value.location(), joinKey(item_key, name),
                            "expected a map of options" +
                                (it->second.schema.specs().empty() ? std::string(" or nothing: write just '") + name + "'"
                                                                   : std::string()) +
                                ", got " + e.value.describe());
        opts.set(it->second.primary, e.value, e.key_location);
      }
    } else {
      throw RecipeError(item.location(), item_key,
                        "expected a transform: a name or a one-key map such as {resize: 256}, got " + item.describe());
    }
    auto it = table().find(name);
    if (it == table().end())
      throw RecipeError(item.location(), item_key,
                        "unknown transform '" + name + "'" + suggest(name) + " (known: " + join(names(), ", ") + ")");
    const TransformSpec& spec = it->second;
    if (normalized && (spec.photometric || spec.pads))
      throw RecipeError(item.location(), item_key,
                        name == "normalize" ? "normalize appears twice"
                                            : name + " works on 8-bit pixel values: put it before normalize");
    Options o = spec.schema.validate(opts, joinKey(item_key, name));
    pipeline.add(spec.build(o));
    normalized = normalized || name == "normalize";
  }
  return pipeline;
}

}  // namespace edgeopt
