#include "surgery_stage.h"

#include "custom_rules.h"

#include <edgeopt/distributed.h>
#include <edgeopt/fileutil.h>
#include <edgeopt/ir/shape_prop.h>
#include <edgeopt/selector.h>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace edgeopt::surgery {

const std::vector<TableEntry>& liteTable() {
  // SE and ConvNeXt blocks first: their sigmoid/GELU must go with the
  // block, not become a ReLU; the input layout before anything reads shapes.
  static const std::vector<TableEntry> table = {
      {"input_permute_to_nchw", true}, {"se_to_identity", true},        {"convnext_block_to_lite", true},
      {"relu6_to_relu", true},
      {"gelu_to_relu", true},          {"silu_to_relu", true},          {"hardswish_to_relu", true},
      {"hardsigmoid_to_relu", true},   {"leaky_relu_to_relu", true},    {"maxpool_k5plus_to_3x3", true},
      {"avgpool_k5plus_to_3x3", true}, {"resize_size_to_scale", true},  {"conv_k6_to_k5", true},
      {"conv_k8plus_to_3x3", false},   {"focus_to_reshape", false},     {"layernorm_to_batchnorm", false},
  };
  return table;
}

namespace {

bool isActivationRule(const std::string& name) {
  return name.size() > 8 && name.compare(name.size() - 8, 8, "_to_relu") == 0;
}

struct ActiveRule {
  std::string name;
  std::unique_ptr<SurgeryRule> rule;
};

class SurgeryStage : public Stage {
 public:
  explicit SurgeryStage(const Options& o) {
    if (o.has("layers"))
      for (const auto& text : o.get<std::vector<std::string>>("layers")) layers_.push_back(Selector::parse(text));
    if (const ConfigNode* modules = listOption(o, "modules"))
      for (size_t i = 0; i < modules->items().size(); ++i) {
        const std::string key = o.key("modules") + "." + std::to_string(i);
        rules_.push_back({"modules." + std::to_string(i), makeModuleRule(modules->items()[i], key)});
      }
    if (const ConfigNode* replace = listOption(o, "replace"))
      for (size_t i = 0; i < replace->items().size(); ++i) {
        const std::string key = o.key("replace") + "." + std::to_string(i);
        rules_.push_back({"replace." + std::to_string(i), makeReplaceRule(replace->items()[i], key)});
      }
    addTableRules(o);
  }

  std::vector<std::string> plan(const GraphModule& model) const override {
    auto copy = model.clone();
    std::vector<std::string> lines;
    for (const auto& r : rules_) lines.push_back(r.name);
    lines = {"rules: " + join(lines)};
    for (auto& l : apply(*copy).lines()) lines.push_back("would do: " + l);
    return lines;
  }

  void run(StageContext& ctx) override {
    const SurgeryLog log = apply(ctx.model());
    for (const auto& l : log.lines()) spdlog::info("surgery: {}", l);
    if (!dist::isMainProcess()) return;
    atomicWrite(ctx.stageDir() + "/surgery.json", log.json());
    std::string text;
    for (const auto& l : log.lines()) text += l + "\n";
    atomicWrite(ctx.stageDir() + "/surgery.txt", text);
    ctx.recordMetrics("{\"params\": " + std::to_string(log.params_after) +
                      ", \"macs\": " + std::to_string(log.macs_after) + "}");
  }

 private:
  static const ConfigNode* listOption(const Options& o, const std::string& name) {
    if (!o.has(name)) return nullptr;
    const ConfigNode& n = o.get<ConfigNode>(name);
    return n.isNull() ? nullptr : &n;
  }

  static std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  }

  // The table's rules as switched by preset, all_activation_to_relu and
  // rules:, then rules: entries naming other (plugin) rules, in recipe order.
  void addTableRules(const Options& o) {
    const bool lite = o.get<std::string>("preset") == "lite";
    const ConfigNode* switches = o.has("rules") ? &o.get<ConfigNode>("rules") : nullptr;
    const auto& registry = registries().of<SurgeryRule>();
    std::vector<std::string> names;
    for (const auto& e : liteTable()) names.push_back(e.rule);
    if (switches)
      for (const auto& e : switches->entries()) {
        if (!registry.find(e.key))
          throw RecipeError(e.key_location, o.key("rules") + "." + e.key,
                            "unknown surgery rule '" + e.key + "' (known: " + join(registry.names()) + ")");
        if (std::find(names.begin(), names.end(), e.key) == names.end()) names.push_back(e.key);
      }
    for (const auto& name : names) {
      bool on = false;
      for (const auto& e : liteTable())
        if (name == e.rule) on = lite && e.on_by_default;
      if (o.has("all_activation_to_relu") && isActivationRule(name)) on = o.get<bool>("all_activation_to_relu");
      const ConfigNode* setting = switches ? switches->find(name) : nullptr;
      const std::string key = o.key("rules") + "." + name;
      ConfigNode rule_options;
      if (setting && setting->isScalar()) {
        if (setting->value() != "true" && setting->value() != "false")
          throw RecipeError(setting->location(), key, "expected true, false or the rule's options (a map)");
        on = setting->value() == "true";
      } else if (setting && setting->isMap()) {
        on = true;
        rule_options = *setting;
      }
      if (!on) continue;
      const auto* entry = registry.find(name);
      if (!entry)
        throw RecipeError(o.location("preset"), o.key("preset"), "the table's rule '" + name + "' is not registered");
      rules_.push_back({name, entry->factory.create(entry->factory.options.validate(rule_options, key))});
    }
  }

  bool inScope(const ir::Node& n) const {
    bool only_excludes = true, included = false, excluded = false;
    for (const auto& s : layers_) {
      only_excludes = only_excludes && s.excludes();
      if (s.matches(n)) (s.excludes() ? excluded : included) = true;
    }
    return (included || only_excludes) && !excluded;
  }

  // Params, MACs and op counts; shapes refreshed for the rules that read them.
  static void measure(GraphModule& m, int64_t& params, int64_t& macs, std::map<std::string, int64_t>& ops) {
    params = macs = 0;
    ops.clear();
    for (const auto& [name, t] : m.namedParameters()) params += t.numel();
    if (!m.exampleInputShapes().empty()) ir::propagateShapes(m, m.exampleInputShapes());
    for (ir::Node* n : m.graph().nodes()) {
      if (n->opcode() != ir::Opcode::Call) continue;
      ++ops[n->target()];
      auto it = n->meta().find("macs");
      if (it != n->meta().end()) macs += std::any_cast<int64_t>(it->second);
    }
  }

  SurgeryLog apply(GraphModule& m) const {
    SurgeryLog log;
    measure(m, log.params_before, log.macs_before, log.ops_before);
    Rewriter rw(m);
    for (const auto& r : rules_) {
      SurgeryLog::Entry entry{r.name, {}};
      SurgeryContext ctx;
      if (!layers_.empty()) ctx.in_scope = [this](const ir::Node& n) { return inScope(n); };
      ctx.applied = [&entry](const std::string& name) { entry.replaced.push_back(name); };
      r.rule->apply(rw, ctx);
      try {
        m.lint();
        if (!m.exampleInputShapes().empty()) ir::propagateShapes(m, m.exampleInputShapes());
      } catch (const Error& e) {
        throw RuntimeFailure("surgery rule '" + r.name + "' left an invalid model: " + e.what());
      }
      if (!entry.replaced.empty()) log.entries.push_back(std::move(entry));
    }
    measure(m, log.params_after, log.macs_after, log.ops_after);
    return log;
  }

  std::vector<Selector> layers_;
  std::vector<ActiveRule> rules_;
};

}  // namespace

void registerSurgeryStage(PluginRegistrar& r) {
  StageFactory f;
  f.summary = "model surgery: TI's lite replacement table, recipe rules, module-level replacement, plugin rules";
  f.options.add("preset", OptionType::String).defaultValue(std::string("lite")).choices({"lite", "none"})
      .help("lite: TI's default replacement table; none: only the rules listed");
  f.options.add("rules", OptionType::Map).help("rule name -> true/false or the rule's options (built-in or plugin)");
  f.options.add("all_activation_to_relu", OptionType::Bool).help("switches every <act>_to_relu rule on or off");
  f.options.add("layers", OptionType::Selectors).help("where the table's and plugin rules may fire (default: all)");
  f.options.add("modules", OptionType::List).help("module-level replacements: {module, to[, kernel_size]}");
  f.options.add("replace", OptionType::List).help("recipe rules: {from | pattern, to[, attrs]}, in order");
  f.create = [](const Options& o) { return std::make_unique<SurgeryStage>(o); };
  r.add<Stage>("surgery", std::move(f));
}

}  // namespace edgeopt::surgery
