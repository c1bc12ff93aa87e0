#pragma once
// `edgeopt-run --onnxruntime RUN_DIR [--export FILE]`: a finished run's ONNX
// export scored in ONNX Runtime on the run's val split. EdgeOpt's data loader
// makes the batches (the recipe's data and val_transforms, as the evaluate
// stage), ONNX Runtime (onnxruntime-node, driven batch by batch through
// core/tools/ort_outputs.js) runs the file, and the run's task scores the
// outputs with the same code as the evaluate stage (TrainTask::evaluateOutputs:
// top-1/top-5, or YOLO decoding + NMS + COCO mAP). The row goes to
// RUN_DIR/onnxruntime.json (one row per export file, replaced when measured
// again) and the run report's Stages table shows it.
#include <cstdint>
#include <string>

namespace edgeopt {

class PluginHost;

struct OnnxRuntimeEval {
  std::string run_dir;
  // A file in RUN_DIR/exports; empty: model.qdq.onnx when there, else the
  // one .onnx file there.
  std::string export_name;
  std::string node = "node";  // Node.js (a name looked up on PATH, or a path)
  std::string node_modules;   // the node_modules folder holding onnxruntime-node
  std::string script;         // ort_outputs.js
  int threads = 0;            // ONNX Runtime intra-op threads; 0: the run's recipe threads (0 = all cores)
  int64_t max_batches = 0;    // > 0: score only the first batches (tests)
};

// Scores the export and records the row. Returns a one-line summary
// ("model.qdq.onnx in onnxruntime 1.x: map 0.77, ..."). Errors: UsageError
// (not a finished run, no such export), RuntimeFailure (Node.js or
// onnxruntime-node missing, ONNX Runtime failing on the file).
std::string scoreInOnnxRuntime(PluginHost& host, const OnnxRuntimeEval& request);

}  // namespace edgeopt
