// The `prune` stage: trains with a sparsity schedule and hands on a sparse
// (or, for channel pruning, a smaller) model. TI's PrunerModule as a stage.
//
//   - kind: prune
//     type: unstructured | n2m | channel | prunechannelunstructured
//     ratio: 0.3                 # n2m: or n: 41 with m: 64 (41 of every 64 along I)
//     m: 64                      # n2m only
//     min_group_inputs: 64       # n2m: layers with fewer input channels stay dense
//     parametrization: blend     # or sigmoid, incremental, a plugin's (parametrization.h)
//     p: 2                       # blend's exponent
//     init_train_epochs: 5       # dense epochs first (default min(5, epochs - 1))
//     importance: fpgm           # channel: fpgm | l2, on BN-folded weights + consumers
//     layers: [type:Conv2d, "!classifier"]              # optional, selector grammar
//     overrides: [{layers: [features.0], ratio: 0.1}]   # per-layer ratios (later wins)
//     global: true               # unstructured: one threshold across layers
//     max_ratio: 0.9             # global: no layer above this
//     min_elements: 1000         # smaller layers stay dense (reported)
//     physical: true             # channel: remove the pruned channels at the end
//     round_to: 16               # channel: kept channels a multiple of 16 per group (SIMD blocks)
//     epochs: 10                 # + every option of the train stage (lr, optimizer, ...)
//
// How it runs: the binary keep mask of every pruned tensor is decided once,
// at the start, from the weights then (|w|, or the channel group's
// importance); mul(weight, mask) nodes go into the graph (prune_plugin.h) and
// at each epoch start the parametrization sets the multipliers; at the end
// the binary mask is baked in (weights exactly zero) and, for channels with
// physical: true, the pruned channels are removed (channel_groups.h), so
// later stages build their optimizers for a smaller model. The validation
// after each epoch scores the model with the binary masks: the one the stage
// hands on. Writes prune.json into the stage folder.
#include "prune_plugin.h"

#include <edgeopt/distributed.h>
#include <edgeopt/error.h>
#include <edgeopt/fileutil.h>
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/input_roles.h>
#include <edgeopt/ir/shape_prop.h>
#include <edgeopt/prune/channel_groups.h>
#include <edgeopt/prune/importance.h>
#include <edgeopt/prune/masks.h>
#include <edgeopt/selector.h>
#include <edgeopt/stage.h>
#include <edgeopt/trainer.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>

namespace edgeopt::prune_plugin {
namespace {

using json = nlohmann::ordered_json;

enum class Kind { Unstructured, NM, Channel, PerChannelUnstructured };
const std::vector<std::string> kKindNames = {"unstructured", "n2m", "channel", "prunechannelunstructured"};

Kind kindFrom(const std::string& s) {
  return static_cast<Kind>(std::find(kKindNames.begin(), kKindNames.end(), s) - kKindNames.begin());
}

// The tensor a conv2d/linear reads as its weight, through a prune mask on a
// resumed run; "" when it is computed.
std::string weightTensor(const GraphModule& m, const ir::Node* layer) {
  const ir::Node* p = layer->input(ir::kConvWeight)->producer();
  if (p->opcode() == ir::Opcode::Param) return p->target();
  for (const MaskNames& n : findMasks(m))
    if (n.mul == p->name()) return n.tensor;
  return "";
}

bool isPrunableLayer(const ir::Node* n) {
  return n->opcode() == ir::Opcode::Call && (n->target() == "conv2d" || n->target() == "linear") &&
         n->numInputs() > ir::kConvWeight;
}

std::string percent(double v) { return fmt::format("{:.1f} %", 100 * v); }

int64_t parameterCount(const GraphModule& m) {
  int64_t n = 0;
  for (const auto& [name, t] : m.namedParameters()) n += t.numel();
  return n;
}

void propagate(GraphModule& m) {
  if (m.exampleInputShapes().empty())
    throw RuntimeFailure("channel pruning follows tensor shapes, but the model has no input shape (give the model "
                         "source an input_size, or run a transform stage with propagate-shapes first)");
  ir::propagateShapes(m, m.exampleInputShapes());
}

struct Override {
  Options options;
  double ratio;
};

// A layer the element kinds prune, or one they leave alone and why.
struct LayerChoice {
  std::string layer;   // the conv2d/linear node
  std::string tensor;  // its weight
  double ratio = 0;
  std::string skipped;  // reason; "" = pruned
};

class PruneStage : public Stage {
 public:
  explicit PruneStage(const Options& o) : options_(o), config_(TrainConfig::fromOptions(o)) {
    kind_ = kindFrom(o.get<std::string>("type"));
    if (kind_ == Kind::NM) {
      if (!o.has("m")) o.fail("type", "n2m needs m, the group length (41:64: n: 41, m: 64; 2:4: n: 2, m: 4)");
      m_ = o.get<int64_t>("m");
      if (o.has("n")) {
        if (o.has("ratio")) o.fail("n", "give n or ratio, not both");
        const int64_t n = o.get<int64_t>("n");
        if (n > m_) o.fail("n", "n must be at most m = " + std::to_string(m_) + ", got " + std::to_string(n));
        ratio_ = static_cast<double>(n) / static_cast<double>(m_);
      }
    } else {
      for (const char* key : {"m", "n", "min_group_inputs"})
        if (o.has(key)) o.fail(key, std::string(key) + " is for type n2m");
    }
    if (!o.has("ratio") && !(kind_ == Kind::NM && o.has("n"))) o.fail("type", "pruning needs a ratio");
    if (o.has("ratio")) ratio_ = o.get<double>("ratio");
    global_ = o.get<bool>("global");
    if (global_ && kind_ != Kind::Unstructured) o.fail("global", "global: true is for type unstructured");
    if (o.has("max_ratio") && !global_) o.fail("max_ratio", "max_ratio caps global pruning (global: true)");
    if (kind_ != Kind::Channel)
      for (const char* key : {"importance", "min_keep", "physical", "round_to"})
        if (o.has(key)) o.fail(key, std::string(key) + " is for type channel");
    if (o.has("overrides")) {
      if (global_) o.fail("overrides", "per-layer ratios do not combine with global: true (use max_ratio)");
      OptionSchema schema;
      schema.add("layers", OptionType::Selectors).required();
      schema.add("ratio", OptionType::Float).required().range(0, 1);
      const ConfigNode& list = o.get<ConfigNode>("overrides");
      if (!list.isSequence()) o.fail("overrides", "must be a list of {layers: [...], ratio: R}");
      for (size_t i = 0; i < list.items().size(); ++i) {
        Options ov = schema.validate(list.items()[i], o.key("overrides") + "." + std::to_string(i));
        const double r = ov.get<double>("ratio");
        overrides_.push_back({std::move(ov), r});
      }
    }
    criterion_ = o.getOr<std::string>("importance", "fpgm") == "l2" ? prune::ChannelCriterion::L2
                                                                     : prune::ChannelCriterion::Fpgm;
    min_keep_ = o.getOr<int64_t>("min_keep", 1);
    physical_ = o.getOr<bool>("physical", true);
    round_to_ = o.getOr<int64_t>("round_to", 1);
    min_elements_ = o.get<int64_t>("min_elements");
    min_group_inputs_ = o.getOr<int64_t>("min_group_inputs", 0);
    max_ratio_ = o.getOr<double>("max_ratio", 1.0);

    schedule_.total_epochs = config_.epochs;
    schedule_.init_epochs = o.has("init_train_epochs") ? o.get<int64_t>("init_train_epochs")
                                                       : std::min<int64_t>(5, config_.epochs - 1);
    schedule_.p = o.get<double>("p");
    try {
      schedule_.validate();
    } catch (const std::invalid_argument& e) {
      o.fail(o.has("init_train_epochs") ? "init_train_epochs" : "epochs", e.what());
    }

    p_name_ = o.get<std::string>("parametrization");
    const auto& reg = registries().of<PruningParametrization>();
    const auto* entry = reg.find(p_name_);
    if (!entry) {
      std::string known;
      for (const auto& n : reg.names()) known += (known.empty() ? "" : ", ") + n;
      o.fail("parametrization", "unknown pruning parametrization '" + p_name_ + "' (registered: " + known + ")");
    }
    const ConfigNode none;
    Options p_options = entry->factory.options.validate(
        o.has("parametrization_options") ? o.get<ConfigNode>("parametrization_options") : none,
        o.key("parametrization_options"));
    parametrization_ = entry->factory.create(p_options);
    if (!parametrization_) o.fail("parametrization", "the factory of '" + p_name_ + "' made nothing");
  }

  std::vector<std::string> plan(const GraphModule& model) const override {
    std::string what = kKindNames[static_cast<size_t>(kind_)] + " pruning, ratio " + fmt::format("{:.4g}", ratio_);
    if (kind_ == Kind::NM) what += fmt::format(" ({}:{})", prune::pruneCount(m_, ratio_), m_);
    if (global_) what += fmt::format(" over all layers (global, max {:.3g} per layer)", max_ratio_);
    std::vector<std::string> lines{what};
    for (const auto& ov : overrides_) resolveSelectors(model.graph(), ov.options, "layers");  // errors at the recipe
    if (kind_ == Kind::Channel) {
      auto copy = model.clone();
      propagate(*copy);
      const prune::ChannelDependencies deps = prune::analyzeChannels(*copy);
      const std::set<std::string> selected = selectedLayers(*copy);
      const auto override_layers = overrideLayers(*copy);
      int64_t chosen = 0, prunable = 0;
      for (const auto& g : deps.groups) {
        prunable += g.prunable;
        chosen += groupDecision(*copy, g, selected, nullptr, &override_layers).has_value() ? 1 : 0;
      }
      lines.push_back(fmt::format("{} channel groups, {} prunable, {} pruned here; importance {}; {}", deps.groups.size(),
                                  prunable, chosen, criterion_ == prune::ChannelCriterion::L2 ? "l2" : "fpgm",
                                  physical_ ? "pruned channels removed at the end" : "pruned channels left as zeros"));
    } else {
      int64_t pruned = 0, skipped = 0;
      for (const auto& c : chooseLayers(model)) (c.skipped.empty() ? pruned : skipped) += 1;
      lines.push_back(fmt::format("{} layers pruned, {} left dense", pruned, skipped));
    }
    lines.push_back(fmt::format("{} (p {:.3g}): {} dense epochs, pruned weights off from epoch {} of {}", p_name_,
                                schedule_.p, schedule_.init_epochs, std::max<int64_t>(schedule_.knee(), 1),
                                schedule_.total_epochs));
    lines.push_back(fmt::format("{}: {} epochs, {} lr {:g}; writes prune.json", config_.task, config_.epochs,
                                config_.optimizer, config_.lr));
    return lines;
  }

  void run(StageContext& ctx) override {
    GraphModule& model = ctx.model();
    const int64_t params_before = parameterCount(model);
    std::vector<MaskNames> masks = findMasks(model);
    if (masks.empty()) {
      masks = kind_ == Kind::Channel ? setupChannels(model) : setupElements(model);
      if (!model.exampleInputShapes().empty()) ir::propagateShapes(model, model.exampleInputShapes());
      model.lint();
    } else {
      spdlog::info("prune: resuming with the {} masks of the saved model", masks.size());
    }
    Trainer::Hooks hooks;
    hooks.on_epoch_start = [this, &masks](int64_t epoch, GraphModule& m) {
      updateMasks(m, masks, *parametrization_, p_name_, schedule_, epoch, groups());
    };
    hooks.inference_model = [&masks](const GraphModule& training) {
      std::shared_ptr<GraphModule> m = training.clone();
      setMasksBinary(*m, masks);
      return m;
    };
    Trainer(ctx, config_, hooks).fit();
    finish(ctx, ctx.model(), params_before);
  }

 private:
  prune::MaskGroups groups() const {
    switch (kind_) {
      case Kind::NM: return prune::MaskGroups::nm(m_);
      case Kind::PerChannelUnstructured: return prune::MaskGroups::perOutputChannel();
      default: return prune::MaskGroups::whole();
    }
  }

  // Names of the nodes `layers` selects (every node without it).
  std::set<std::string> selectedLayers(const GraphModule& m) const {
    std::set<std::string> out;
    if (options_.has("layers")) {
      for (ir::Node* n : resolveSelectors(m.graph(), options_, "layers")) out.insert(n->name());
    } else {
      for (ir::Node* n : m.graph().nodes()) out.insert(n->name());
    }
    return out;
  }

  // The ratio for a layer: the last override that selects it, else the stage's.
  double ratioFor(const std::string& layer, const std::vector<std::set<std::string>>& override_layers) const {
    double r = ratio_;
    for (size_t i = 0; i < overrides_.size(); ++i)
      if (override_layers[i].count(layer)) r = overrides_[i].ratio;
    return r;
  }
  std::vector<std::set<std::string>> overrideLayers(const GraphModule& m) const {
    std::vector<std::set<std::string>> out;
    for (const auto& ov : overrides_) {
      std::set<std::string> names;
      for (ir::Node* n : resolveSelectors(m.graph(), ov.options, "layers")) names.insert(n->name());
      out.push_back(std::move(names));
    }
    return out;
  }

  // ---- unstructured, n2m, prunechannelunstructured ---------------------
  std::vector<LayerChoice> chooseLayers(const GraphModule& m) const {
    const std::set<std::string> selected = selectedLayers(m);
    const auto override_layers = overrideLayers(m);
    std::vector<LayerChoice> out;
    std::set<std::string> seen;
    for (ir::Node* n : m.graph().nodes()) {
      if (!isPrunableLayer(n) || !selected.count(n->name())) continue;
      LayerChoice c;
      c.layer = n->name();
      c.tensor = weightTensor(m, n);
      c.ratio = ratioFor(n->name(), override_layers);
      if (c.tensor.empty()) {
        c.skipped = "its weight is computed, not a parameter";
      } else if (!seen.insert(c.tensor).second) {
        continue;  // a weight shared by two layers is pruned once
      } else {
        const at::Tensor& w = m.tensor(c.tensor);
        if (w.numel() < min_elements_)
          c.skipped = fmt::format("{} elements < min_elements {}", w.numel(), min_elements_);
        else if (c.ratio == 0)
          c.skipped = "ratio 0";
        else if (kind_ == Kind::NM && (w.dim() < 2 || w.size(1) == 1))
          c.skipped = "one input channel per output (depthwise): no N:M groups along I";
        else if (kind_ == Kind::NM && w.size(1) < min_group_inputs_)
          c.skipped = fmt::format("{} input channels < min_group_inputs {}", w.size(1), min_group_inputs_);
      }
      out.push_back(std::move(c));
    }
    if (options_.has("layers") && out.empty())
      options_.fail("layers", "selects no conv2d or linear layer to prune");
    return out;
  }

  std::vector<MaskNames> setupElements(GraphModule& m) {
    std::vector<LayerChoice> chosen;
    for (auto& c : chooseLayers(m))
      if (c.skipped.empty()) chosen.push_back(c);
    std::vector<at::Tensor> importances, keeps;
    for (const auto& c : chosen) importances.push_back(m.tensor(c.tensor).detach().abs());
    if (global_) {
      prune::GlobalPruneOptions g;
      g.ratio = ratio_;
      g.max_ratio = max_ratio_;
      prune::GlobalMasks r;
      try {
        r = prune::globalMagnitudeMasks(importances, g);
      } catch (const std::invalid_argument& e) {
        throw RuntimeFailure(std::string("global pruning: ") + e.what());
      }
      keeps = r.masks;
      for (size_t i : r.capped) capped_.push_back(chosen[i].tensor);
    } else {
      for (size_t i = 0; i < chosen.size(); ++i) {
        const at::Tensor& imp = importances[i];
        const double r = chosen[i].ratio;
        switch (kind_) {
          case Kind::NM: keeps.push_back(prune::nmMaskForRatio(imp, r, m_)); break;
          case Kind::PerChannelUnstructured: keeps.push_back(prune::perChannelUnstructuredMask(imp, r)); break;
          default: keeps.push_back(prune::unstructuredMask(imp, r)); break;
        }
      }
    }
    std::vector<MaskNames> masks;
    for (size_t i = 0; i < chosen.size(); ++i) masks.push_back(insertMask(m, chosen[i].tensor, keeps[i], importances[i]));
    spdlog::info("prune: {} masks in the graph ({} {})", masks.size(), kKindNames[static_cast<size_t>(kind_)],
                 global_ ? "global" : "per layer");
    return masks;
  }

  // ---- channel ---------------------------------------------------------
  // The ratio a group is pruned with, or nullopt with `why` set when it is
  // left whole ("" when none of its producers is selected).
  std::optional<double> groupDecision(const GraphModule& m, const prune::ChannelGroup& g,
                                      const std::set<std::string>& selected, std::string* why = nullptr,
                                      const std::vector<std::set<std::string>>* override_layers = nullptr) const {
    auto leave = [&](std::string reason) {
      if (why) *why = std::move(reason);
      return std::optional<double>();
    };
    std::string producer;
    for (const auto& p : g.producers)
      if (selected.count(p)) {
        producer = p;
        break;
      }
    if (producer.empty()) return leave("");
    if (!g.prunable) return leave(g.reason);
    const double r = override_layers ? ratioFor(producer, *override_layers) : ratio_;
    if (r == 0) return leave("ratio 0");
    const ir::Node* node = m.graph().findNode(producer);
    if (node && isPrunableLayer(node)) {
      const std::string w = weightTensor(m, node);
      if (!w.empty() && m.tensor(w).numel() < min_elements_)
        return leave(fmt::format("{} elements < min_elements {}", m.tensor(w).numel(), min_elements_));
    }
    if (g.channels <= min_keep_)
      return leave(fmt::format("{} channels <= min_keep {}", g.channels, min_keep_));
    if (g.channels < round_to_) return leave(fmt::format("{} channels < round_to {}", g.channels, round_to_));
    return r;
  }

  std::vector<MaskNames> setupChannels(GraphModule& m) {
    propagate(m);
    const prune::ChannelDependencies deps = prune::analyzeChannels(m);
    const std::set<std::string> selected = selectedLayers(m);
    const auto override_layers = overrideLayers(m);
    // Per masked tensor: the channel keep and importance along its one dim.
    struct PerTensor {
      int64_t dim = 0;
      at::Tensor keep, importance, covered;
    };
    std::map<std::string, PerTensor> tensors;
    std::vector<std::string> order;
    int64_t groups = 0;
    for (const auto& g : deps.groups) {
      const auto r = groupDecision(m, g, selected, nullptr, &override_layers);
      if (!r) continue;
      const at::Tensor imp = prune::groupImportance(m, g, criterion_).to(at::kDouble);
      const at::Tensor keep = prune::channelMask(imp, *r, min_keep_, round_to_).to(at::kDouble);
      ++groups;
      for (const auto& s : g.slices) {
        if (s.reads || m.isBuffer(s.tensor)) continue;
        const at::Tensor& t = m.tensor(s.tensor);
        auto it = tensors.find(s.tensor);
        if (it == tensors.end()) {
          PerTensor p;
          p.dim = s.dim;
          p.keep = at::ones({t.size(s.dim)}, at::kDouble);
          p.importance = at::zeros({t.size(s.dim)}, at::kDouble);
          p.covered = at::zeros({t.size(s.dim)}, at::kBool);
          it = tensors.emplace(s.tensor, std::move(p)).first;
          order.push_back(s.tensor);
        } else if (it->second.dim != s.dim) {
          throw RuntimeFailure("channel pruning: '" + s.tensor + "' would be masked along dims " +
                               std::to_string(it->second.dim) + " and " + std::to_string(s.dim));
        }
        PerTensor& p = it->second;
        const int64_t len = g.channels * s.span;
        p.keep.narrow(0, s.offset, len).copy_(keep.repeat_interleave(s.span));
        p.importance.narrow(0, s.offset, len).copy_(imp.repeat_interleave(s.span));
        p.covered.narrow(0, s.offset, len).fill_(true);
      }
    }
    std::vector<MaskNames> masks;
    for (const std::string& name : order) {
      PerTensor& p = tensors.at(name);
      const at::Tensor& t = m.tensor(name);
      // Entries no pruned group covers stay kept and rank with the most important.
      const double top = p.importance.masked_select(p.covered).max().item<double>();
      p.importance.masked_fill_(~p.covered, top);
      std::vector<int64_t> view(static_cast<size_t>(t.dim()), 1);
      view[static_cast<size_t>(p.dim)] = t.size(p.dim);
      masks.push_back(insertMask(m, name, p.keep.reshape(view), p.importance.reshape(view)));
    }
    spdlog::info("prune: {} channel groups of {} pruned through {} masked tensors", groups, deps.groups.size(),
                 masks.size());
    return masks;
  }

  // ---- the end: bake, remove, report -----------------------------------
  void finish(StageContext& ctx, GraphModule& m, int64_t params_before) {
    const std::vector<MaskNames> masks = findMasks(m);
    std::map<std::string, at::Tensor> channel_keeps;  // tensor -> [size(dim)] keep
    for (const auto& n : masks) channel_keeps[n.tensor] = m.tensor(n.keep).reshape({-1}).to(at::kDouble);
    bakeMasks(m, masks);

    json report;
    report["type"] = kKindNames[static_cast<size_t>(kind_)];
    report["ratio"] = ratio_;
    if (kind_ == Kind::NM) report["m"] = m_;
    report["global"] = global_;
    report["parametrization"] = p_name_;
    report["schedule"] = {{"epochs", schedule_.total_epochs}, {"init_epochs", schedule_.init_epochs},
                          {"knee", schedule_.knee()}, {"p", schedule_.p}};
    json layers = json::array(), skipped = json::array(), groups = json::array();
    int64_t elements = 0, zeros = 0;
    for (const auto& n : masks) {
      const at::Tensor& t = m.tensor(n.tensor);
      const int64_t z = t.numel() - t.count_nonzero().item<int64_t>();
      elements += t.numel();
      zeros += z;
      layers.push_back({{"tensor", n.tensor},
                        {"elements", t.numel()},
                        {"zeros", z},
                        {"sparsity", t.numel() ? static_cast<double>(z) / t.numel() : 0.0}});
    }
    int64_t channels_before = 0, channels_after = 0;
    bool removed = false;
    if (kind_ == Kind::Channel) {
      propagate(m);
      const prune::ChannelDependencies deps = prune::analyzeChannels(m);
      const std::set<std::string> selected = selectedLayers(m);
      const auto override_layers = overrideLayers(m);
      std::vector<at::Tensor> keeps(deps.groups.size());
      for (size_t i = 0; i < deps.groups.size(); ++i) {
        const auto& g = deps.groups[i];
        std::string why;
        if (!groupDecision(m, g, selected, &why, &override_layers)) {
          if (!why.empty()) skipped.push_back({{"producers", g.producers}, {"reason", why}});
          continue;
        }
        for (const auto& s : g.slices) {
          auto it = channel_keeps.find(s.tensor);
          if (s.reads || it == channel_keeps.end()) continue;
          keeps[i] = it->second.narrow(0, s.offset, g.channels * s.span).reshape({g.channels, s.span}).select(1, 0).clone();
          break;
        }
        const int64_t kept = keeps[i].defined() ? keeps[i].ne(0).sum().item<int64_t>() : g.channels;
        channels_before += g.channels;
        channels_after += kept;
        groups.push_back({{"producers", g.producers}, {"channels", g.channels}, {"kept", kept}});
        if (kept == g.channels) keeps[i] = at::Tensor();
      }
      if (physical_ && std::any_of(keeps.begin(), keeps.end(), [](const at::Tensor& k) { return k.defined(); })) {
        prune::removeChannels(m, deps, keeps);
        m.lint();
        removed = true;
      }
      report["importance"] = criterion_ == prune::ChannelCriterion::L2 ? "l2" : "fpgm";
      report["physical"] = physical_;
      report["round_to"] = round_to_;
      report["groups"] = groups;
      report["channels"] = {{"before", channels_before}, {"after", channels_after}};
    } else {
      for (const auto& c : chooseLayers(m))
        if (!c.skipped.empty()) skipped.push_back({{"layer", c.layer}, {"tensor", c.tensor}, {"reason", c.skipped}});
      if (!capped_.empty()) report["capped"] = capped_;
    }
    const int64_t params_after = parameterCount(m);
    report["layers"] = layers;
    report["total"] = {{"elements", elements},
                       {"zeros", zeros},
                       {"sparsity", elements ? static_cast<double>(zeros) / elements : 0.0}};
    report["skipped"] = skipped;
    report["params"] = {{"before", params_before}, {"after", params_after}};
    if (dist::isMainProcess()) atomicWrite(ctx.stageDir() + "/prune.json", report.dump(2) + "\n");

    std::string line = fmt::format("prune: {}: {} of {} weights zero ({}) in {} tensors, {} layers left dense",
                                   kKindNames[static_cast<size_t>(kind_)], zeros, elements,
                                   percent(elements ? static_cast<double>(zeros) / elements : 0.0), masks.size(),
                                   skipped.size());
    if (kind_ == Kind::Channel)
      line = fmt::format("prune: channel: {} groups, channels {} -> {}, {} tensors masked, {} groups left whole; {}",
                         groups.size(), channels_before, channels_after, masks.size(), skipped.size(),
                         removed ? "pruned channels removed" : "pruned channels kept as zeros");
    spdlog::info("{}; params {} -> {}", line, params_before, params_after);
  }

  Options options_;
  TrainConfig config_;
  Kind kind_ = Kind::Unstructured;
  double ratio_ = 0;
  int64_t m_ = 0;
  bool global_ = false;
  double max_ratio_ = 1;
  int64_t min_elements_ = 0;
  int64_t min_group_inputs_ = 0;  // n2m: layers with a shorter I stay dense
  int64_t min_keep_ = 1;
  bool physical_ = true;
  int64_t round_to_ = 1;  // channel: kept channels per group rounded to the nearest multiple of this
  prune::ChannelCriterion criterion_ = prune::ChannelCriterion::Fpgm;
  std::vector<Override> overrides_;
  prune::PruneSchedule schedule_;
  std::string p_name_;
  std::unique_ptr<PruningParametrization> parametrization_;
  std::vector<std::string> capped_;
};

}  // namespace

StageFactory pruneStageFactory() {
  StageFactory f;
  f.summary = "trains with a sparsity schedule: unstructured, N:M, channel (dependency groups, physical removal), "
              "per-channel unstructured; parametrizations as plugins";
  OptionSchema& s = f.options;
  s.add("type", OptionType::String).required().choices(kKindNames).help("what is pruned (TI's pruning_type)");
  s.add("ratio", OptionType::Float).range(0, 1).help("fraction pruned (of each layer, group of M, channel, or all)");
  s.add("n", OptionType::Int).atLeast(0).help("n2m: zeros per group of m (instead of ratio)");
  s.add("m", OptionType::Int).atLeast(1).help("n2m: the group length along the input dimension");
  // A layer with fewer than m input channels has only one short group; TIDL's
  // sparse kernels skip full groups, so such a layer gains nothing from zeros.
  s.add("min_group_inputs", OptionType::Int)
      .atLeast(1)
      .help(
          "n2m: layers with fewer input channels (the length of their groups along I) stay dense; m keeps only "
          "layers with full groups");
  s.add("parametrization", OptionType::String)
      .defaultValue(std::string("blend"))
      .help("a registered pruning parametrization: blend, sigmoid, incremental or a plugin's");
  s.add("parametrization_options", OptionType::Map).help("options of the parametrization (its own schema)");
  s.add("p", OptionType::Float).defaultValue(2.0).range(1e-6, 100).help("blend's exponent");
  s.add("init_train_epochs", OptionType::Int).atLeast(0).help("dense epochs before pruning (default min(5, epochs - 1))");
  s.add("importance", OptionType::String).choices({"fpgm", "l2"}).help("channel: importance criterion (default fpgm)");
  s.add("layers", OptionType::Selectors).help("layers to prune (default all conv2d/linear)");
  s.add("overrides", OptionType::List).help("per-layer ratios: [{layers: [selectors], ratio: R}], later wins");
  s.add("global", OptionType::Bool).defaultValue(false).help("unstructured: one threshold across all layers");
  s.add("max_ratio", OptionType::Float).range(0, 1).help("global: no layer pruned above this fraction (default 1)");
  s.add("min_elements", OptionType::Int).defaultValue(int64_t{0}).atLeast(0).help("layers with fewer weights stay dense");
  s.add("min_keep", OptionType::Int).atLeast(1).help("channel: channels kept at least per group (default 1)");
  s.add("physical", OptionType::Bool).help("channel: remove the pruned channels at the end (default true)");
  s.add("round_to", OptionType::Int)
      .atLeast(1)
      .help(
          "channel: kept channels per group rounded to the nearest multiple of this (SIMD width: 16 for ONNX Runtime "
          "on AVX-512, 8 on AVX2); smaller groups stay whole (default 1)");
  addTrainOptions(s);
  f.create = [](const Options& o) { return std::make_unique<PruneStage>(o); };
  return f;
}

}  // namespace edgeopt::prune_plugin
