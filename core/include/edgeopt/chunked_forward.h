#pragma once
// Evaluation in cache-sized pieces. A forward pass over a large batch runs
// op by op over the whole batch, so at batch 512 every activation of the
// main job's model (96 x 28 x 28 floats an image) is 154 MB and the
// memory-bound ops (batch norm, ReLU6, depthwise convs) stream it from DRAM
// instead of the caches: bench_eval measured 0.85-0.87 of the best img/s at
// batch 512. In evaluation each image's outputs depend on that image alone
// (batch norm uses its running statistics), so the batch can run as a few
// pieces whose activations stay near a cache-sized budget and the outputs
// concatenated: the same numbers up to float rounding, at the best batch
// size's speed whatever batch the recipe asks for. Training cannot do this:
// batch norm's statistics span the whole batch.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace edgeopt {

class GraphModule;

// Activation bytes per piece: about where bench_eval's img/s peaks for the
// main job's model and for resnet18 at 224 x 224.
constexpr int64_t kEvaluationBlockBytes = int64_t{64} << 20;

// Rows per forward for `images` (at least 1): the batch split into equal
// pieces whose largest activation stays within `block_bytes`; the whole
// batch when it fits or when the model's shapes cannot be propagated.
int64_t evaluationRows(const GraphModule& model, const at::Tensor& images,
                       int64_t block_bytes = kEvaluationBlockBytes);

// model.forward on `images` in pieces of `rows`, each output concatenated
// along dim 0. When an output does not have the piece's rows in dim 0 (it
// is not per image) the whole batch is run at once instead.
std::vector<at::Tensor> forwardInPieces(GraphModule& model, const at::Tensor& images, int64_t rows);

}  // namespace edgeopt
