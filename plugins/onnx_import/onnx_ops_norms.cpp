// Normalisation layers: BatchNormalization (inference form), InstanceNormalization
// (group_norm with one group per channel) and LayerNormalization.
#include "onnx_converters.h"

namespace edgeopt::onnx_import::detail {
namespace {

void batchNorm(NodeContext& node) {
  for (int i = 1; i < node.numOutputs(); ++i)
    if (node.outputUsed(i)) node.fail("training outputs (mean, var)");
  if (node.attrInt("training_mode", 0) != 0) node.fail("training_mode=1");
  if (node.attrInt("spatial", 1) != 1) node.fail("spatial=0");
  const Val& x = node.req(0);
  std::vector<ir::Value*> ins{node.irOf(x), node.irOf(node.req(1), ParamKind::Parameter),
                              node.irOf(node.req(2), ParamKind::Parameter), node.irOf(node.req(3), ParamKind::Buffer),
                              node.irOf(node.req(4), ParamKind::Buffer)};
  return node.setOut(0, node.wrap(node.emit("batch_norm", ins,
                                            {{"eps", node.attrFloat("epsilon", 1e-5)},
                                             {"momentum", 1.0 - node.attrFloat("momentum", 0.9)}})));
}

void instanceNorm(NodeContext& node) {
  const Val& scale = node.req(1);
  std::vector<ir::Value*> ins{node.irOf(node.req(0)), node.irOf(scale, ParamKind::Parameter),
                              node.irOf(node.req(2), ParamKind::Parameter)};
  auto channels = node.shapeOf(scale);
  if (!channels || channels->size() != 1) node.fail("scale must be 1-d");
  return node.setOut(0, node.wrap(node.emit("group_norm", ins,
                                            {{"num_groups", (*channels)[0]},
                                             {"eps", node.attrFloat("epsilon", 1e-5)}})));
}

void layerNorm(NodeContext& node) {
  for (int i = 1; i < node.numOutputs(); ++i)
    if (node.outputUsed(i)) node.fail("the Mean/InvStdDev outputs");
  const Val& x = node.req(0);
  auto shape = node.shapeOf(x);
  if (!shape) node.fail("needs a known input shape");
  int64_t rank = static_cast<int64_t>(shape->size());
  int64_t axis = node.attrInt("axis", -1);
  if (axis < 0) axis += rank;
  std::vector<ir::Value*> ins{node.irOf(x), node.irOf(node.req(1), ParamKind::Parameter)};
  if (const Val* b = node.in(2)) ins.push_back(node.irOf(*b, ParamKind::Parameter));
  return node.setOut(0, node.wrap(node.emit("layer_norm", ins,
                                            {{"normalized_shape", Ints(shape->begin() + axis, shape->end())},
                                             {"eps", node.attrFloat("epsilon", 1e-5)}})));
}

}  // namespace

void addNormConverters(ConverterTable& table) {
  table.add("BatchNormalization", batchNorm);
  table.add("InstanceNormalization", instanceNorm);
  table.add("LayerNormalization", layerNorm);
}

}  // namespace edgeopt::onnx_import::detail
