// Reference kernels and shape functions of the internal channels-last ops
// (see ops.def): each is its NCHW op on transposed tensors. The channels-last
// inputs (X, and Sum of FusedConvNhwc) are transposed to NCHW, the NCHW op's
// shape function or reference kernel runs, and the output is transposed
// back. Slow on purpose: the oracle of the fast NHWC kernels.
#include <algorithm>
#include <array>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/kernel.h"
#include "kernels/layout.h"

namespace iskra {

namespace {

struct ChannelsLastOp {
  OpKind op;
  OpKind nchw_op;
  std::array<bool, 4> channels_last_input;  // inputs in NHWC (the others are as for the NCHW op)
};

constexpr std::array<ChannelsLastOp, 5> kChannelsLastOps = {{
    {OpKind::FusedConvNhwc, OpKind::FusedConv, {true, false, false, true}},
    {OpKind::ConvTransposeNhwc, OpKind::ConvTranspose, {true, false, false, false}},
    {OpKind::MaxPoolNhwc, OpKind::MaxPool, {true, false, false, false}},
    {OpKind::AveragePoolNhwc, OpKind::AveragePool, {true, false, false, false}},
    {OpKind::QLinearConvNhwc, OpKind::QLinearConv, {true, false, false, false}},
}};

const ChannelsLastOp& channels_last_op(OpKind op) {
  for (const ChannelsLastOp& entry : kChannelsLastOps)
    if (entry.op == op) return entry;
  return kChannelsLastOps[0];  // unreachable: only registered ops get here
}

bool is_channels_last_input(const ChannelsLastOp& op, size_t i) {
  return i < op.channels_last_input.size() && op.channels_last_input[i];
}

Status check_rank4(const Node& node, size_t i, const Tensor& t) {
  if (t.rank() != 4)
    return invalid_model(node.label(), "input ", i, " must be a 4-D NHWC tensor, got ", t.describe());
  return Status::ok();
}

// QLinearConvNhwc's fused activation: its output clamped to [activation_min, activation_max].
void clamp_to_activation_range(const Node& node, Tensor& y) {
  const auto clamp = [&](auto* data, int64_t lo, int64_t hi) {
    using T = std::remove_pointer_t<decltype(data)>;
    const T min = static_cast<T>(std::max(lo, int64_t{std::numeric_limits<T>::min()}));
    const T max = static_cast<T>(std::min(hi, int64_t{std::numeric_limits<T>::max()}));
    for (int64_t i = 0; i < y.element_count(); ++i) data[i] = std::clamp(data[i], min, max);
  };
  const int64_t lo = node.attr_int("activation_min", std::numeric_limits<int64_t>::min());
  const int64_t hi = node.attr_int("activation_max", std::numeric_limits<int64_t>::max());
  if (y.dtype() == DType::kI8) clamp(y.data<int8_t>(), lo, hi);
  else if (y.dtype() == DType::kU8) clamp(y.data<uint8_t>(), lo, hi);
}

Status infer_channels_last(InferContext& ctx) {
  const ChannelsLastOp& op = channels_last_op(ctx.node().op);
  // Shape-only stand-ins for the inputs as the NCHW op sees them.
  std::vector<Tensor> nchw(ctx.input_count());
  std::vector<const Tensor*> inputs(ctx.input_count(), nullptr);
  for (size_t i = 0; i < ctx.input_count(); ++i) {
    if (!ctx.has_input(i)) continue;
    if (is_channels_last_input(op, i)) {
      ISKRA_RETURN_IF_ERROR(check_rank4(ctx.node(), i, ctx.input(i)));
      nchw[i] = Tensor::view(ctx.dtype(i), permute_shape(ctx.shape(i), kNhwcToNchw), nullptr);
      inputs[i] = &nchw[i];
    } else {
      inputs[i] = &ctx.input(i);
    }
  }
  std::vector<TensorType> outputs;
  InferContext inner(ctx.node(), inputs, outputs);
  ISKRA_RETURN_IF_ERROR(reference_op_table().get(op.nchw_op).infer(inner));
  if (outputs.empty() || outputs[0].shape.size() != 4) return ctx.error("the NCHW op did not give a 4-D output");
  ctx.set_output(0, outputs[0].dtype, permute_shape(outputs[0].shape, kNchwToNhwc));
  return Status::ok();
}

Status run_channels_last(KernelContext& ctx) {
  const ChannelsLastOp& op = channels_last_op(ctx.node.op);
  std::vector<Tensor> nchw(ctx.input_count());
  std::vector<const Tensor*> inputs(ctx.input_count(), nullptr);
  for (size_t i = 0; i < ctx.input_count(); ++i) {
    if (!ctx.has_input(i)) continue;
    if (is_channels_last_input(op, i)) {
      ISKRA_ASSIGN_OR_RETURN(nchw[i], permuted(ctx.input(i), kNhwcToNchw));
      inputs[i] = &nchw[i];
    } else {
      inputs[i] = &ctx.input(i);
    }
  }
  Tensor& y = ctx.output(0);
  ISKRA_ASSIGN_OR_RETURN(Tensor y_nchw, Tensor::allocate(y.dtype(), permute_shape(y.shape(), kNhwcToNchw)));
  Tensor* outputs[] = {&y_nchw};
  KernelContext inner{ctx.node, inputs, outputs, nullptr};
  ISKRA_RETURN_IF_ERROR(reference_op_table().get(op.nchw_op).reference(inner));
  permute_dims(y_nchw, kNchwToNhwc, y);
  if (ctx.node.op == OpKind::QLinearConvNhwc) clamp_to_activation_range(ctx.node, y);
  return Status::ok();
}

}  // namespace

void register_channels_last_ops(OpTable& table) {
  for (const ChannelsLastOp& op : kChannelsLastOps) table.add(op.op, infer_channels_last, run_channels_last);
}

}  // namespace iskra
