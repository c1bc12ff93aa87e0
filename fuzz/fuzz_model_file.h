#pragma once
// What edgeopt-inspect does with a model file: load it through its model
// source, then propagate shapes and count MACs for the input shape it records.
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/summary.h>
#include <edgeopt/model_loader.h>

#include "fuzz_support.h"

namespace edgeopt::fuzz {

inline void summarizeRecorded(GraphModule& model) {
  if (model.exampleInputShapes().empty()) return;
  model.eval();
  ir::summarize(model, model.exampleInputShapes()[0]);
}

inline void inspectModelFile(const uint8_t* data, size_t size, const std::string& suffix) {
  const std::string path = writeInput(data, size, suffix);
  expectHandled([&] {
    auto model = loadModelSpec(path);
    summarizeRecorded(*model);
  });
}

}  // namespace edgeopt::fuzz
