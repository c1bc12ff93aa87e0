#include <edgeopt/chunked_forward.h>

#include <edgeopt/graph_module.h>
#include <edgeopt/ir/shape_prop.h>

#include <ATen/ATen.h>

#include <algorithm>

namespace edgeopt {

int64_t evaluationRows(const GraphModule& model, const at::Tensor& images, int64_t block_bytes) {
  const int64_t batch = images.dim() > 0 ? images.size(0) : 1;
  if (batch <= 1) return 1;
  // The largest activation of one image, from shape propagation on a copy of
  // the graph (the model's own value shapes stay as they are).
  std::unique_ptr<ir::Graph> graph = model.graph().clone();
  ir::Shape one(images.sizes().begin(), images.sizes().end());
  one[0] = 1;
  try {
    ir::propagateShapes(*graph, {one}, [&](const std::string& name) {
      const at::Tensor& t = model.tensor(name);
      return ir::ParamInfo{ir::Shape(t.sizes().begin(), t.sizes().end()), model.isBuffer(name)};
    });
  } catch (const std::exception&) {
    return batch;  // several inputs, or shapes only known at run time
  }
  int64_t largest = 0;
  for (const ir::Node* n : graph->nodes()) {
    if (n->opcode() != ir::Opcode::Call) continue;  // weights do not grow with the batch
    for (const ir::Value* v : n->outputs()) {
      if (!v->shape()) continue;
      int64_t numel = 1;
      for (int64_t d : *v->shape()) numel *= std::max<int64_t>(d, 1);
      largest = std::max(largest, numel);
    }
  }
  const int64_t bytes = largest * static_cast<int64_t>(images.element_size());
  if (bytes <= 0 || bytes * batch <= block_bytes) return batch;
  const int64_t pieces = (bytes * batch + block_bytes - 1) / block_bytes;
  return (batch + pieces - 1) / pieces;  // equal pieces: the last one not a small remainder
}

std::vector<at::Tensor> forwardInPieces(GraphModule& model, const at::Tensor& images, int64_t rows) {
  const int64_t batch = images.size(0);
  if (rows <= 0 || rows >= batch) return model.forward({images});
  std::vector<std::vector<at::Tensor>> pieces;
  for (int64_t start = 0; start < batch; start += rows) {
    const int64_t n = std::min(rows, batch - start);
    std::vector<at::Tensor> out = model.forward({images.narrow(0, start, n)});
    for (const at::Tensor& t : out)
      if (t.dim() == 0 || t.size(0) != n) return model.forward({images});
    pieces.push_back(std::move(out));
  }
  std::vector<at::Tensor> outputs;
  for (size_t k = 0; k < pieces.front().size(); ++k) {
    std::vector<at::Tensor> parts;
    for (const auto& p : pieces) parts.push_back(p[k]);
    outputs.push_back(at::cat(parts, 0));
  }
  return outputs;
}

}  // namespace edgeopt
