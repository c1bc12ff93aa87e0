#pragma once
// A GraphModule is a graph plus the tensors its Param nodes name: parameters
// (trainable, requires_grad) and buffers (BatchNorm running stats), both kept
// in registration order under their state_dict names.
//
// File format (save/load), version 1, all integers little-endian:
//   "EDGEOPT\0"  8-byte magic
//   uint32       format version
//   uint64       header length N
//   N bytes      JSON header: {"graph": ..., "tensors": [{name, kind, dtype,
//                shape, offset, nbytes, requires_grad}], "training", "user_meta"}
//   data         raw tensor bytes; offsets are relative to the data start
#include <edgeopt/ir/executor.h>
#include <edgeopt/ir/graph.h>

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace edgeopt {

class GraphModule {
 public:
  using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

  GraphModule();
  explicit GraphModule(std::unique_ptr<ir::Graph> graph);
  ~GraphModule();
  GraphModule(const GraphModule&) = delete;
  GraphModule& operator=(const GraphModule&) = delete;

  ir::Graph& graph() { return *graph_; }
  const ir::Graph& graph() const { return *graph_; }

  // Names must be unique across parameters and buffers (RuntimeFailure).
  void registerParameter(const std::string& name, at::Tensor t, bool requires_grad = true);
  void registerBuffer(const std::string& name, at::Tensor t);
  bool hasTensor(const std::string& name) const { return index_.count(name) != 0; }
  bool isBuffer(const std::string& name) const;
  // The parameter or buffer called `name`; RuntimeFailure if unknown.
  const at::Tensor& tensor(const std::string& name) const;
  // Replaces a tensor (e.g. after pruning changed its shape); keeps its kind.
  void setTensor(const std::string& name, at::Tensor t);
  // Removes a tensor no Param node uses any more.
  void removeTensor(const std::string& name);
  // `hint`, or `hint_1`, `hint_2`...: the first name no tensor has, where a
  // tensor also counts as taken under `hint + "." + suffix` for any suffix.
  std::string uniqueTensorName(const std::string& hint, const std::vector<std::string>& suffixes = {}) const;

  std::vector<at::Tensor> parameters() const;  // for torch::optim
  NamedTensors namedParameters() const;
  NamedTensors namedBuffers() const;
  NamedTensors stateDict() const;  // parameters and buffers, in registration order
  // Copies values into the existing tensors (same shapes). With `strict`,
  // missing or unexpected names are an InputError listing them.
  void loadStateDict(const NamedTensors& state, bool strict = true);

  std::vector<at::Tensor> forward(const std::vector<at::Tensor>& inputs,
                                  const ir::NodeObserver& observer = {});
  void train(bool on = true) { training_ = on; }
  void eval() { training_ = false; }
  bool isTraining() const { return training_; }
  // Stats of the last forward (live-value peak).
  ir::ExecStats lastExecStats() const;

  // The input shapes the model was built for (batch 1), one per graph input;
  // empty if unknown. Summaries, --dry-run and exporters use them; saved.
  const std::vector<ir::Shape>& exampleInputShapes() const { return example_input_shapes_; }
  void setExampleInputShapes(std::vector<ir::Shape> shapes) { example_input_shapes_ = std::move(shapes); }

  // Graph::lint plus: every Param node names a tensor of this module.
  void lint() const;

  void save(const std::string& path, const std::string& user_meta_json = "") const;
  // InputError("<path>: <reason>") for a missing, truncated or corrupted file.
  static std::shared_ptr<GraphModule> load(const std::string& path, std::string* user_meta_json = nullptr);
  // Deep copy: graph and tensors (detached clones; requires_grad kept).
  std::shared_ptr<GraphModule> clone() const;

 private:
  struct Entry {
    std::string name;
    at::Tensor tensor;
    bool is_buffer;
  };
  std::unique_ptr<ir::Graph> graph_;
  std::vector<Entry> entries_;
  std::unordered_map<std::string, size_t> index_;
  bool training_ = true;  // like torch.nn.Module
  std::vector<ir::Shape> example_input_shapes_;
  std::unique_ptr<ir::Executor> executor_;
};

}  // namespace edgeopt
