#include <edgeopt/plugin.h>
#include <edgeopt/registry.h>

#include <set>

namespace edgeopt {

const char* toString(FactoryKind kind) {
  switch (kind) {
    case FactoryKind::Stage: return "stage";
    case FactoryKind::ModelSource: return "model source";
    case FactoryKind::Exporter: return "exporter";
    case FactoryKind::Dataset: return "dataset";
    case FactoryKind::PruningParametrization: return "pruning parametrization";
    case FactoryKind::SurgeryRule: return "surgery rule";
    case FactoryKind::QuantScheme: return "quantization scheme";
    case FactoryKind::Observer: return "observer";
  }
  return "?";
}

template <class T>
static std::string providerIn(const Registry<T>& r, const std::string& name) {
  const auto* e = r.find(name);
  return e ? e->provider : std::string();
}

std::string Registries::providerOf(FactoryKind kind, const std::string& name) const {
  switch (kind) {
    case FactoryKind::Stage: return providerIn(stages_, name);
    case FactoryKind::ModelSource: return providerIn(model_sources_, name);
    case FactoryKind::Exporter: return providerIn(exporters_, name);
    case FactoryKind::Dataset: return providerIn(datasets_, name);
    case FactoryKind::PruningParametrization: return providerIn(parametrizations_, name);
    case FactoryKind::SurgeryRule: return providerIn(surgery_rules_, name);
    case FactoryKind::QuantScheme: return providerIn(quant_schemes_, name);
    case FactoryKind::Observer: return providerIn(observers_, name);
  }
  return {};
}

void Registries::commit(const PluginRegistrar& registrar) {
  std::set<std::pair<FactoryKind, std::string>> seen;
  for (const auto& p : registrar.pending()) {
    if (p.name.empty())
      throw PluginError(std::string("registers a ") + toString(p.kind) + " with an empty name");
    if (!seen.insert({p.kind, p.name}).second)
      throw PluginError(std::string("registers ") + toString(p.kind) + " '" + p.name + "' twice");
    std::string other = providerOf(p.kind, p.name);
    if (!other.empty())
      throw PluginError(std::string(toString(p.kind)) + " '" + p.name +
                        "' is already provided by plugin '" + other +
                        "'; rename one of them or load only one of the two plugins");
  }
  for (const auto& p : registrar.pending()) p.commit(*this, registrar.pluginName());
}

Registries& registries() {
  static Registries instance;
  return instance;
}

}  // namespace edgeopt
