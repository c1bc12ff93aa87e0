#pragma once
// Converts a TorchScript file (torch.jit.script or torch.jit.trace, saved by
// Python's `.save()`) into a GraphModule.
//
// How: the importer evaluates the module's `forward` symbolically. Method and
// function graphs are walked un-inlined, so every prim::CallMethod on a
// submodule enters that module: node names, module types and scopes come from
// the module hierarchy (torchvision state_dict prefixes). Everything that is not
// tensor data flow is evaluated while importing: prim::GetAttr chains, constant
// arithmetic, lists and tuples, and control flow whose condition is known
// (`self.training` reads are answered with the requested mode, module flags such
// as `use_res_connect` are constants). Checks that depend on run-time shapes
// (`if input.dim() != 4: raise ...`) take their non-raising branch. Tensor ops
// map to IR ops (conv2d, batch_norm, ...); parameters and buffers become Param
// nodes under their state_dict names. BatchNorm's num_batches_tracked update
// becomes batch_norm's 6th input; torchvision's StochasticDepth module becomes
// the stochastic_depth op. Traced files work the same way (aten::_convolution,
// sizes through NumToTensor), but their training=False is baked in.
//
// Errors are InputError("<path>: ..."): not a TorchScript file, a traced model
// asked to train, every unsupported op kind with a node where it occurs.
#include <edgeopt/graph_module.h>
#include <edgeopt/ir/graph.h>

#include <memory>
#include <optional>
#include <string>

namespace edgeopt::torchscript {

struct ImportOptions {
  std::string path;
  std::optional<ir::Shape> input_shape;  // recorded on the (first) graph input
  bool train = true;  // `self.training` is answered with this; the module starts in this mode
};

std::shared_ptr<GraphModule> importTorchScript(const ImportOptions& options);

}  // namespace edgeopt::torchscript
