#include <edgeopt/memory_format.h>

#include <edgeopt/graph_module.h>

namespace edgeopt {

namespace {

// A copy with `format`'s canonical strides. Tensor::contiguous(format) is not
// enough: it returns the tensor itself when both layouts describe the same
// memory order (a 1x1 conv weight [O, I, 1, 1], a depthwise one [C, 1, 3, 3],
// a one-channel batch), and LibTorch then reads the strides as contiguous and
// stays on the NCHW path, which for MobileNets is every conv.
at::Tensor restrided(const at::Tensor& t, at::MemoryFormat format) {
  return at::empty_like(t, t.options(), format).copy_(t);
}

}  // namespace

ChannelsLastParameters::ChannelsLastParameters(GraphModule& model) {
  for (const auto& [name, t] : model.namedParameters()) {
    if (t.dim() != 4 || t.suggest_memory_format() == at::MemoryFormat::ChannelsLast) continue;
    // set_data keeps the tensor's identity (the optimizer, the graph and
    // autograd still hold the same parameter), as torch's Module.to() does.
    at::Tensor p = t;
    p.set_data(restrided(t.detach(), at::MemoryFormat::ChannelsLast));
    converted_.push_back(p);
  }
}

ChannelsLastParameters::~ChannelsLastParameters() {
  // Canonical contiguous strides again, so what follows (and a resumed run,
  // which loads contiguous checkpoints) computes exactly as without this.
  for (at::Tensor& p : converted_) p.set_data(restrided(p.detach(), at::MemoryFormat::Contiguous));
}

at::Tensor toTrainingLayout(const at::Tensor& images, bool channels_last) {
  if (!channels_last || images.dim() != 4 || images.suggest_memory_format() == at::MemoryFormat::ChannelsLast)
    return images;
  return restrided(images, at::MemoryFormat::ChannelsLast);
}

}  // namespace edgeopt
