// The `edgeopt` exporter: EdgeOpt's own checkpoint (graph + tensors), which
// GraphModule::load reads back and the `edgeopt` model source can start from.
#include "export_plugin.h"

#include <edgeopt/exporter.h>
#include <edgeopt/graph_module.h>

namespace edgeopt::plugins {
namespace {

class CheckpointExporter : public Exporter {
 public:
  std::string extension() const override { return ".edgeopt"; }
  void write(const GraphModule& model, const std::string& path) override { model.save(path); }
};

}  // namespace

ExporterFactory checkpointExporterFactory() {
  ExporterFactory f;
  f.summary = "EdgeOpt checkpoint: graph, parameters and buffers (GraphModule::save)";
  f.create = [](const Options&) { return std::make_unique<CheckpointExporter>(); };
  return f;
}

}  // namespace edgeopt::plugins
