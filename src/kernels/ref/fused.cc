// Reference kernels of the internal fused ops (see ops.def): the unfused ops'
// reference kernels, then the residual sum and the activation, rounding to
// the element type between steps exactly as the unfused graph does.
#include <string>

#include "kernels/fused.h"
#include "kernels/kernel.h"
#include "kernels/ref/common.h"

namespace iskra {

namespace {

constexpr const char* kActivationAttr = "activation";
constexpr const char* kActivationParamsAttr = "activation_params";

struct ActivationSpec {
  cpu::ActivationKind kind;
  size_t params;
};

Result<ActivationSpec> activation_spec(const Node& node, const std::string& name) {
  using K = cpu::ActivationKind;
  for (K kind : {K::kNone, K::kRelu, K::kClip, K::kLeakyRelu, K::kSigmoid, K::kHardSigmoid, K::kHardSwish, K::kTanh,
                 K::kSilu}) {
    if (name != cpu::activation_name(kind)) continue;
    const size_t params = kind == K::kClip || kind == K::kHardSigmoid ? 2 : kind == K::kLeakyRelu ? 1 : 0;
    return ActivationSpec{kind, params};
  }
  return invalid_model(node.label(), "unknown fused activation '", name, "'");
}

// Conv's output plus Sum (broadcast to it, never enlarging it), then the activation.
Status infer_fused_conv(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(fused_activation(ctx.node()).status());
  ISKRA_RETURN_IF_ERROR(reference_op_table().get(OpKind::Conv).infer(ctx));
  if (ctx.has_input(3)) {
    const Shape& out = ctx.output_type(0).shape;
    const auto joint = ref::broadcast_shapes(out, ctx.shape(3));
    if (ctx.dtype(3) != ctx.dtype(0) || !joint || *joint != out)
      return ctx.error("sum ", shape_to_string(ctx.shape(3)), " ", dtype_name(ctx.dtype(3)),
                       " cannot be added to the convolution's ", shape_to_string(out), " ", dtype_name(ctx.dtype(0)));
  }
  return Status::ok();
}

Status run_fused_conv(KernelContext& ctx) {
  ISKRA_RETURN_IF_ERROR(reference_op_table().get(OpKind::Conv).reference(ctx));
  ISKRA_ASSIGN_OR_RETURN(cpu::Activation act, fused_activation(ctx.node));
  Tensor& y = ctx.output(0);
  const Tensor* sum = ctx.has_input(3) ? &ctx.input(3) : nullptr;
  auto body = [&](auto tag) -> Status {
    using T = decltype(tag);
    T* out = y.data<T>();
    if (sum) {
      ref::StridedIndexer<1> at(y.shape(), {ref::broadcast_strides(sum->shape(), y.shape())});
      const T* s = sum->data<T>();
      for (int64_t i = 0; i < y.element_count(); ++i, at.next())
        out[i] = ref::convert_element<T>(ref::convert_element<float>(out[i]) + ref::convert_element<float>(s[at.offset(0)]));
    }
    if (!act.is_none())
      for (int64_t i = 0; i < y.element_count(); ++i)
        out[i] = ref::convert_element<T>(cpu::activation_reference(act, ref::convert_element<float>(out[i])));
    return Status::ok();
  };
  return ISKRA_DISPATCH_FLOAT(y.dtype(), body, ctx.unsupported_error("dtype ", dtype_name(y.dtype())));
}

}  // namespace

Result<cpu::Activation> fused_activation(const Node& node) {
  cpu::Activation act;
  if (!node.has_attr(kActivationAttr)) return act;
  ISKRA_ASSIGN_OR_RETURN(ActivationSpec spec, activation_spec(node, node.attr_string(kActivationAttr, "")));
  const std::vector<float> params = node.attr_floats(kActivationParamsAttr);
  if (params.size() != spec.params)
    return invalid_model(node.label(), "fused activation ", cpu::activation_name(spec.kind), " takes ", spec.params,
                         " parameters, got ", params.size());
  act.kind = spec.kind;
  if (params.size() > 0) act.alpha = params[0];
  if (params.size() > 1) act.beta = params[1];
  return act;
}

void set_fused_activation(Node& node, const cpu::Activation& act) {
  node.attrs[kActivationAttr] = std::string(cpu::activation_name(act.kind));
  std::vector<float> params;
  if (act.kind == cpu::ActivationKind::kClip || act.kind == cpu::ActivationKind::kHardSigmoid) params = {act.alpha, act.beta};
  if (act.kind == cpu::ActivationKind::kLeakyRelu) params = {act.alpha};
  node.attrs[kActivationParamsAttr] = params;
}

bool has_fused_activation(const Node& node) { return node.has_attr(kActivationAttr); }

void register_fused_ops(OpTable& table) { table.add(OpKind::FusedConv, infer_fused_conv, run_fused_conv); }

}  // namespace iskra
