// Quantization presets and the recipe's custom schemes and overrides.
#include <edgeopt/quant/quantize.h>
#include <edgeopt/quant/scheme.h>

#include <cstdio>
#include <stdexcept>

namespace edgeopt::quant {
namespace {

TensorQuant weights(int bits, bool per_channel, bool power_of_2, double range_max = 0) {
  TensorQuant t;
  t.bits = bits;
  t.symmetric = true;
  t.per_channel = per_channel;
  t.power_of_2 = power_of_2;
  t.range_max = range_max;
  t.observer = ObserverKind::Current;
  return t;
}

// TI's activation observers: moving average of per-batch ranges with 0.01 %
// clipped at each end (MSA_*: none).
TensorQuant activations(int bits, bool symmetric, bool power_of_2, double shrink = 0.01) {
  TensorQuant t;
  t.bits = bits;
  t.symmetric = symmetric;
  t.power_of_2 = power_of_2;
  t.observer = ObserverKind::MovingAverage;
  t.shrink_percentile = shrink;
  return t;
}

struct Preset {
  const char* name;
  TensorQuant weight, activation;
};

const std::vector<Preset>& presets() {
  static const std::vector<Preset> table = [] {
    std::vector<Preset> p = {
        {"WC8_AT8", weights(8, true, false), activations(8, false, false)},
        {"MSA_WC8_AT8", weights(8, true, false), activations(8, false, false, 0)},
        {"WT8SYMP2_AT8SYMP2", weights(8, false, true), activations(8, true, true)},
        {"WC8SYMP2_AT8SYMP2", weights(8, true, true), activations(8, true, true)},
        {"WC8SYMP2_AT8SYMP2R4", weights(8, true, true), activations(8, true, true)},
        {"WC8P2_AT8P2", weights(8, true, true), activations(8, false, true)},
        {"MSA_WC8P2_AT8P2", weights(8, true, true), activations(8, false, true, 0)},
        {"WC4_AT8", weights(4, true, false), activations(8, false, false)},
        {"WC4M4_AT8", weights(4, true, false, 4.0), activations(8, false, false)},
        {"WC16_AT16", weights(16, true, false), activations(16, false, false)},
    };
    // R4: activations fixed to [-4, 4] (the original misspells the key, so
    // its fixed range is never applied).
    p[4].activation.range_max = 4.0;
    p[4].activation.fixed_range = std::make_pair(-4.0, 4.0);
    return p;
  }();
  return table;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

bool validBits(int64_t b) { return (b >= 2 && b <= 8) || b == 16; }

OptionSchema tensorSchema(bool weight) {
  OptionSchema s;
  s.add("bits", OptionType::Int).range(2, 16).help("2..8 or 16");
  s.add("symmetric", OptionType::Bool);
  s.add("per_channel", OptionType::Bool).help("axis 0; weights only");
  s.add("power_of_2", OptionType::Bool);
  s.add("range_max", OptionType::Float).atLeast(0).help("clip |range| to this (0: off)");
  s.add("fixed_range", OptionType::Bool).help("fix the range to [-range_max, range_max]");
  s.add("observer", OptionType::String)
      .choices(weight ? std::vector<std::string>{"current", "minmax", "moving_average"}
                      : std::vector<std::string>{"minmax", "moving_average", "histogram"});
  s.add("averaging_constant", OptionType::Float).range(0, 1);
  s.add("shrink_percentile", OptionType::Float).range(0, 10).help("percent clipped at each end");
  s.add("range_search", OptionType::String).choices({"percentile", "mse"}).help("histogram observer's final range");
  return s;
}

void applyTensorOptions(const ConfigNode& node, const std::string& key, bool weight, TensorQuant& t) {
  const Options o = tensorSchema(weight).validate(node, key);
  if (o.has("bits")) {
    const int64_t b = o.get<int64_t>("bits");
    if (!validBits(b)) o.fail("bits", "must be 2..8 or 16, got " + std::to_string(b));
    t.bits = static_cast<int>(b);
  }
  if (o.has("symmetric")) t.symmetric = o.get<bool>("symmetric");
  if (o.has("per_channel")) {
    if (!weight && o.get<bool>("per_channel")) o.fail("per_channel", "activations are quantized per tensor");
    t.per_channel = o.get<bool>("per_channel");
  }
  if (o.has("power_of_2")) t.power_of_2 = o.get<bool>("power_of_2");
  if (o.has("range_max")) t.range_max = o.get<double>("range_max");
  if (o.has("observer")) t.observer = observerKindFromString(o.get<std::string>("observer"));
  if (o.has("averaging_constant")) t.averaging_constant = o.get<double>("averaging_constant");
  if (o.has("shrink_percentile")) t.shrink_percentile = o.get<double>("shrink_percentile");
  if (o.has("range_search")) t.range_search = o.get<std::string>("range_search") == "mse" ? RangeSearch::Mse : RangeSearch::Percentile;
  if (o.has("fixed_range")) {
    if (!o.get<bool>("fixed_range")) {
      t.fixed_range.reset();
    } else {
      if (t.range_max <= 0) o.fail("fixed_range", "needs range_max > 0 (the range becomes [-range_max, range_max])");
      if (weight) o.fail("fixed_range", "weights are always observed; fix activation ranges only");
      t.fixed_range = std::make_pair(-t.range_max, t.range_max);
    }
  } else if (t.fixed_range && o.has("range_max")) {
    t.fixed_range = std::make_pair(-t.range_max, t.range_max);
  }
  if (t.range_search == RangeSearch::Mse && t.observer != ObserverKind::Histogram && o.has("range_search"))
    o.fail("range_search", "applies to observer: histogram only");
}

}  // namespace

const char* toString(ObserverKind k) {
  switch (k) {
    case ObserverKind::Current: return "current";
    case ObserverKind::MinMax: return "minmax";
    case ObserverKind::MovingAverage: return "moving_average";
    case ObserverKind::Histogram: return "histogram";
    case ObserverKind::Fixed: return "fixed";
  }
  return "?";
}

ObserverKind observerKindFromString(const std::string& s) {
  for (ObserverKind k : {ObserverKind::Current, ObserverKind::MinMax, ObserverKind::MovingAverage,
                         ObserverKind::Histogram, ObserverKind::Fixed})
    if (s == toString(k)) return k;
  throw std::invalid_argument("unknown observer '" + s + "' (current, minmax, moving_average, histogram, fixed)");
}

int64_t TensorQuant::quantMin() const {
  if (symmetric || bits > 8) return -(int64_t{1} << (bits - 1));
  return 0;
}

int64_t TensorQuant::quantMax() const {
  if (symmetric || bits > 8) return (int64_t{1} << (bits - 1)) - 1;
  return (int64_t{1} << bits) - 1;
}

const std::vector<std::string>& presetNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& p : presets()) out.push_back(p.name);
    return out;
  }();
  return names;
}

Scheme presetScheme(const std::string& name) {
  for (const auto& p : presets())
    if (name == p.name) return {p.name, p.weight, p.activation};
  throw std::invalid_argument("unknown quantization preset '" + name + "' (presets: " + joined(presetNames()) + ")");
}

void addSchemeOptions(OptionSchema& schema) {
  schema.add("preset", OptionType::String)
      .defaultValue(std::string("WC8_AT8"))
      .choices(presetNames())
      .help("quantization preset (TI names)");
  schema.add("scheme", OptionType::Map)
      .help("custom scheme: {base: PRESET, weight: {...}, activation: {...}} (fields: bits, symmetric, per_channel, "
            "power_of_2, range_max, fixed_range, observer, shrink_percentile, averaging_constant, range_search)");
}

Scheme schemeFromOptions(const Options& options) {
  Scheme s = presetScheme(options.get<std::string>("preset"));
  if (!options.has("scheme")) return s;
  OptionSchema top;
  top.add("base", OptionType::String).choices(presetNames());
  top.add("weight", OptionType::Map);
  top.add("activation", OptionType::Map);
  const Options o = top.validate(options.get<ConfigNode>("scheme"), options.key("scheme"));
  if (o.has("base")) s = presetScheme(o.get<std::string>("base"));
  if (o.has("weight")) applyTensorOptions(o.get<ConfigNode>("weight"), o.key("weight"), true, s.weight);
  if (o.has("activation")) applyTensorOptions(o.get<ConfigNode>("activation"), o.key("activation"), false, s.activation);
  s.name = "custom(" + s.name + ")";
  return s;
}

std::string describe(const Scheme& s) {
  auto one = [](const TensorQuant& t) {
    const bool is_signed = t.quantMin() < 0;
    std::string out = std::string(is_signed ? "int" : "uint") + std::to_string(t.bits);
    out += t.per_channel ? " per-channel" : " per-tensor";
    out += t.symmetric ? " symmetric" : " affine";
    if (t.power_of_2) out += " power-of-2";
    if (t.fixed_range) {
      char buf[64];
      std::snprintf(buf, sizeof buf, " fixed [%g, %g]", t.fixed_range->first, t.fixed_range->second);
      out += buf;
    } else {
      out += std::string(" (") + toString(t.observer);
      if (t.shrink_percentile > 0) {
        char buf[48];
        std::snprintf(buf, sizeof buf, ", shrink %g %%", t.shrink_percentile);
        out += buf;
      }
      out += ")";
    }
    if (t.range_max > 0 && !t.fixed_range) out += " range_max " + std::to_string(t.range_max).substr(0, 4);
    return out;
  };
  return s.name + ": weights " + one(s.weight) + ", activations " + one(s.activation);
}

void addOverrideOptions(OptionSchema& schema) {
  schema.add("overrides", OptionType::List)
      .help("per-layer bit widths: [{layers: [selectors], weight_bits: 16, activation_bits: 16}]");
}

std::vector<LayerOverride> overridesFromOptions(const Options& options) {
  std::vector<LayerOverride> out;
  if (!options.has("overrides")) return out;
  OptionSchema schema;
  schema.add("layers", OptionType::Selectors).required();
  schema.add("weight_bits", OptionType::Int).defaultValue(int64_t{0}).range(0, 16).help("0: the scheme's");
  schema.add("activation_bits", OptionType::Int).defaultValue(int64_t{0}).range(0, 16).help("0: the scheme's");
  const ConfigNode& list = options.get<ConfigNode>("overrides");
  for (size_t i = 0; i < list.items().size(); ++i) {
    Options o = schema.validate(list.items()[i], options.key("overrides") + "." + std::to_string(i));
    for (const char* key : {"weight_bits", "activation_bits"}) {
      const int64_t b = o.get<int64_t>(key);
      if (b != 0 && !validBits(b)) o.fail(key, "must be 2..8 or 16, got " + std::to_string(b));
    }
    if (o.get<int64_t>("weight_bits") == 0 && o.get<int64_t>("activation_bits") == 0)
      o.fail("layers", "an override needs weight_bits or activation_bits");
    out.push_back({std::move(o)});
  }
  return out;
}

}  // namespace edgeopt::quant
