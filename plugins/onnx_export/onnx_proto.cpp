// Serialization of the core's OnnxModel with libonnx's protobuf classes.
#include "onnx_proto.h"

#include <edgeopt/error.h>

#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

#include <ATen/ATen.h>

#include <cstring>

namespace edgeopt::onnx_export {
namespace {

int32_t elemType(at::ScalarType t) {
  using T = onnx::TensorProto;
  switch (t) {
    case at::kFloat: return T::FLOAT;
    case at::kDouble: return T::DOUBLE;
    case at::kHalf: return T::FLOAT16;
    case at::kBFloat16: return T::BFLOAT16;
    case at::kChar: return T::INT8;
    case at::kByte: return T::UINT8;
    case at::kShort: return T::INT16;
    case at::kInt: return T::INT32;
    case at::kLong: return T::INT64;
    case at::kBool: return T::BOOL;
    default: throw RuntimeFailure(std::string("ONNX export: dtype ") + c10::toString(t) + " has no ONNX type");
  }
}

void setValueInfo(onnx::ValueInfoProto* p, const ir::OnnxValueInfo& v) {
  p->set_name(v.name);
  auto* tensor = p->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(elemType(v.dtype));
  if (!v.shape) return;
  auto* shape = tensor->mutable_shape();
  for (const auto& d : *v.shape) {
    auto* dim = shape->add_dim();
    if (!d.param.empty()) dim->set_dim_param(d.param);
    else if (d.size >= 0) dim->set_dim_value(d.size);
  }
}

void setAttribute(onnx::AttributeProto* a, const std::string& name, const ir::OnnxAttr& value) {
  using A = onnx::AttributeProto;
  a->set_name(name);
  std::visit(
      [&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, int64_t>) {
          a->set_type(A::INT), a->set_i(v);
        } else if constexpr (std::is_same_v<V, float>) {
          a->set_type(A::FLOAT), a->set_f(v);
        } else if constexpr (std::is_same_v<V, std::string>) {
          a->set_type(A::STRING), a->set_s(v);
        } else if constexpr (std::is_same_v<V, at::Tensor>) {
          a->set_type(A::TENSOR), *a->mutable_t() = toTensorProto("", v);
        } else if constexpr (std::is_same_v<V, ir::Ints>) {
          a->set_type(A::INTS);
          for (int64_t x : v) a->add_ints(x);
        } else if constexpr (std::is_same_v<V, ir::Floats>) {
          a->set_type(A::FLOATS);
          for (float x : v) a->add_floats(x);
        } else {
          a->set_type(A::STRINGS);
          for (const auto& x : v) a->add_strings(x);
        }
      },
      value.variant());
}

}  // namespace

onnx::TensorProto toTensorProto(const std::string& name, const at::Tensor& tensor) {
  at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
  onnx::TensorProto p;
  if (!name.empty()) p.set_name(name);
  p.set_data_type(elemType(t.scalar_type()));
  for (int64_t d : t.sizes()) p.add_dims(d);
  // raw_data is little-endian, as are the hosts we run on.
  p.set_raw_data(std::string(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size()));
  return p;
}

onnx::ModelProto toModelProto(const ir::OnnxModel& model) {
  const ir::OnnxGraph& g = model.graph;
  onnx::ModelProto m;
  m.set_ir_version(kIrVersion);
  m.set_producer_name(model.producer_name);
  m.set_producer_version(model.producer_version);
  m.set_model_version(model.model_version);
  if (!model.doc_string.empty()) m.set_doc_string(model.doc_string);
  auto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(g.opset());
  for (const auto& [domain, version] : g.extraOpsets()) {
    auto* o = m.add_opset_import();
    o->set_domain(domain);
    o->set_version(version);
  }
  for (const auto& [key, value] : model.metadata) {
    auto* p = m.add_metadata_props();
    p->set_key(key);
    p->set_value(value);
  }
  onnx::GraphProto* graph = m.mutable_graph();
  graph->set_name(g.name());
  for (const auto& v : g.inputs()) setValueInfo(graph->add_input(), v);
  for (const auto& v : g.outputs()) setValueInfo(graph->add_output(), v);
  for (const auto& v : g.valueInfos()) setValueInfo(graph->add_value_info(), v);
  for (const auto& init : g.initializers()) *graph->add_initializer() = toTensorProto(init.name, init.tensor);
  for (const auto& n : g.nodes()) {
    onnx::NodeProto* p = graph->add_node();
    p->set_op_type(n.op_type);
    p->set_name(n.name);
    if (!n.domain.empty()) p->set_domain(n.domain);
    for (const auto& i : n.inputs) p->add_input(i);
    for (const auto& o : n.outputs) p->add_output(o);
    for (const auto& [key, value] : n.attrs) setAttribute(p->add_attribute(), key, value);
  }
  return m;
}

int maxKnownOpset() {
  return onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map().at(onnx::ONNX_DOMAIN).second;
}

void checkModel(onnx::ModelProto& model) {
  for (const auto& o : model.opset_import())
    if (o.domain().empty() && o.version() > maxKnownOpset())
      throw RuntimeFailure("ONNX export: opset " + std::to_string(o.version()) +
                           " cannot be checked: this libonnx knows opsets up to " + std::to_string(maxKnownOpset()) +
                           "; export with opset <= " + std::to_string(maxKnownOpset()) +
                           ", or set check: false to write it unchecked");
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw RuntimeFailure(std::string("ONNX export: the model fails onnx::checker::check_model: ") + e.what());
  }
  try {
    onnx::ShapeInferenceOptions strict(/*check_type=*/true, /*error_mode=*/1, /*data_prop=*/false);
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(), strict);
  } catch (const std::exception& e) {
    throw RuntimeFailure(std::string("ONNX export: the model fails strict ONNX shape inference: ") + e.what());
  }
}

void addOnnxExportOptions(OptionSchema& s) {
  s.add("opset", OptionType::Int).defaultValue(int64_t{17}).range(13, 18).help("ONNX opset version");
  s.add("input_shape", OptionType::IntList).atLeast(1).help("[N, C, H, W]; default: the shape recorded on the model's input");
  s.add("dynamic_batch", OptionType::Bool).defaultValue(true).help("dim 0 of inputs/outputs is symbolic");
  s.add("check", OptionType::Bool)
      .defaultValue(true)
      .help("run the ONNX checker and strict shape inference (libonnx must know the opset)");
}

}  // namespace edgeopt::onnx_export
