#pragma once
// One registry per kind of pluggable thing. Plugins add factories through a
// PluginRegistrar (plugin.h); the core looks them up by name. The registries
// live in libedgeopt_core so the host and every plugin share one instance.
#include <edgeopt/error.h>
#include <edgeopt/options.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace edgeopt {

class Stage;
class ModelSource;
class Exporter;
class Dataset;
// Filled by the pruning, surgery and quantization issues (see ROADMAP.md).
class PruningParametrization;
class SurgeryRule;
class QuantScheme;
class Observer;

enum class FactoryKind {
  Stage,
  ModelSource,
  Exporter,
  Dataset,
  PruningParametrization,
  SurgeryRule,
  QuantScheme,
  Observer,
};
const char* toString(FactoryKind kind);  // "stage", "model source", ...

// How to make one T from validated options. `options` is the schema the recipe
// validator checks the user's map against before anything runs.
template <class T>
struct Factory {
  std::string summary;
  OptionSchema options;
  std::function<std::unique_ptr<T>(const Options&)> create;
};
using StageFactory = Factory<Stage>;
using ModelSourceFactory = Factory<ModelSource>;
using ExporterFactory = Factory<Exporter>;
using DatasetFactory = Factory<Dataset>;
using PruningParametrizationFactory = Factory<PruningParametrization>;
using SurgeryRuleFactory = Factory<SurgeryRule>;
using QuantSchemeFactory = Factory<QuantScheme>;
using ObserverFactory = Factory<Observer>;

template <class T> struct KindOf;
template <> struct KindOf<Stage> { static constexpr FactoryKind value = FactoryKind::Stage; };
template <> struct KindOf<ModelSource> { static constexpr FactoryKind value = FactoryKind::ModelSource; };
template <> struct KindOf<Exporter> { static constexpr FactoryKind value = FactoryKind::Exporter; };
template <> struct KindOf<Dataset> { static constexpr FactoryKind value = FactoryKind::Dataset; };
template <> struct KindOf<PruningParametrization> { static constexpr FactoryKind value = FactoryKind::PruningParametrization; };
template <> struct KindOf<SurgeryRule> { static constexpr FactoryKind value = FactoryKind::SurgeryRule; };
template <> struct KindOf<QuantScheme> { static constexpr FactoryKind value = FactoryKind::QuantScheme; };
template <> struct KindOf<Observer> { static constexpr FactoryKind value = FactoryKind::Observer; };

template <class T>
class Registry {
 public:
  struct Entry {
    Factory<T> factory;
    std::string provider;  // plugin name
  };

  const Entry* find(const std::string& name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second;
  }
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (auto& [name, _] : entries_) out.push_back(name);
    return out;
  }
  // Callers check for duplicates first (Registries::commit), so this never
  // silently replaces an entry.
  void add(const std::string& name, Factory<T> factory, const std::string& provider) {
    entries_.emplace(name, Entry{std::move(factory), provider});
  }

 private:
  std::map<std::string, Entry> entries_;
};

class PluginRegistrar;

class Registries {
 public:
  template <class T> Registry<T>& of();
  template <class T> const Registry<T>& of() const { return const_cast<Registries*>(this)->of<T>(); }

  // Adds everything `registrar` collected, or nothing: a name already taken
  // (by this plugin or another) throws PluginError naming both providers.
  void commit(const PluginRegistrar& registrar);

  // The plugin that provides `name` of `kind`, or "" if none.
  std::string providerOf(FactoryKind kind, const std::string& name) const;

 private:
  Registry<Stage> stages_;
  Registry<ModelSource> model_sources_;
  Registry<Exporter> exporters_;
  Registry<Dataset> datasets_;
  Registry<PruningParametrization> parametrizations_;
  Registry<SurgeryRule> surgery_rules_;
  Registry<QuantScheme> quant_schemes_;
  Registry<Observer> observers_;
};

template <> inline Registry<Stage>& Registries::of<Stage>() { return stages_; }
template <> inline Registry<ModelSource>& Registries::of<ModelSource>() { return model_sources_; }
template <> inline Registry<Exporter>& Registries::of<Exporter>() { return exporters_; }
template <> inline Registry<Dataset>& Registries::of<Dataset>() { return datasets_; }
template <> inline Registry<PruningParametrization>& Registries::of<PruningParametrization>() { return parametrizations_; }
template <> inline Registry<SurgeryRule>& Registries::of<SurgeryRule>() { return surgery_rules_; }
template <> inline Registry<QuantScheme>& Registries::of<QuantScheme>() { return quant_schemes_; }
template <> inline Registry<Observer>& Registries::of<Observer>() { return observers_; }

// The process-wide registries (defined in libedgeopt_core).
Registries& registries();

}  // namespace edgeopt
