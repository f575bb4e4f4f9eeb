// Conv → Mul(constant) → Add(constant), the per-channel (or per-tensor)
// scale and shift that some exporters leave after a convolution (PaddleOCR's
// MobileOne blocks), folds into the Conv's weights and bias:
//   (W·x + b)·s + t  =  (W·s)·x + (b·s + t)
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace iskra {

namespace {

// Per-channel values of a constant that broadcasts against a Conv output
// [N, M, ...] of rank `rank` only along the channel axis: scalar, [1], [M, 1..],
// [1, M, 1..]. Empty if it does not.
std::vector<float> channel_values(const Tensor* t, int64_t channels, size_t rank) {
  if (!t || t->rank() > static_cast<int>(rank)) return {};
  const int64_t count = t->element_count();
  if (count == 1) return std::vector<float>(static_cast<size_t>(channels), t->data<float>()[0]);
  if (count != channels) return {};
  // The one non-1 dim must line up with the output's channel axis (axis 1).
  const Shape& s = t->shape();
  const size_t uncovered = rank - s.size();  // leading output axes the constant lacks
  if (uncovered > 1 || s[1 - uncovered] != channels) return {};
  return std::vector<float>(t->data<float>(), t->data<float>() + count);
}

}  // namespace

int fold_conv_affine(Graph& graph) {
  int folded = 0;
  for (bool changed = true; changed;) {
    changed = false;
    const auto consumers = passes::consumers_of(graph);
    std::vector<bool> dead(graph.nodes.size(), false);
    for (size_t n = 0; n < graph.nodes.size(); ++n) {
      Node& conv = graph.nodes[n];
      if (conv.op != OpKind::Conv || conv.outputs.size() != 1 || conv.inputs.size() < 2) continue;
      const int y = conv.outputs[0];
      const auto& readers = consumers[static_cast<size_t>(y)];
      if (readers.size() != 1 || passes::is_graph_output(graph, y)) continue;
      const size_t r = static_cast<size_t>(readers[0]);
      Node& op = graph.nodes[r];
      if ((op.op != OpKind::Mul && op.op != OpKind::Add) || op.inputs.size() != 2 || dead[r]) continue;
      const int other = op.inputs[0] == y ? op.inputs[1] : op.inputs[0];
      const Tensor* w = passes::constant_f32(graph, conv.inputs[1]);
      if (!w || w->rank() < 3 || other == y) continue;
      const int64_t channels = w->dim(0);
      const std::vector<float> values =
          channel_values(passes::constant_f32(graph, other), channels, static_cast<size_t>(w->rank()));
      if (values.empty()) continue;
      const Tensor* bias = conv.has_input(2) ? passes::constant_f32(graph, conv.inputs[2]) : nullptr;
      if (conv.has_input(2) && (!bias || bias->element_count() != channels)) continue;

      const bool scale = op.op == OpKind::Mul;
      // Scaled in place when nothing else can see the weights; a shift leaves them as they are.
      Tensor* in_place = scale ? passes::exclusive_constant_f32(graph, conv.inputs[1], consumers) : nullptr;
      auto new_w = in_place || !scale ? Result<Tensor>(Tensor()) : Tensor::allocate_uninitialized(DType::kF32, w->shape());
      auto new_b = Tensor::allocate_uninitialized(DType::kF32, {channels});
      if (!new_w || !new_b) continue;
      const int64_t per_channel = w->element_count() / channels;
      const float* w_in = w->data<float>();
      float* w_out = in_place ? in_place->data<float>() : scale ? new_w->data<float>() : nullptr;
      float* b_out = new_b->data<float>();
      for (int64_t m = 0; m < channels; ++m) {
        const float v = values[static_cast<size_t>(m)];
        const float b = bias ? bias->data<float>()[m] : 0.0f;
        if (scale)
          for (int64_t k = 0; k < per_channel; ++k) w_out[m * per_channel + k] = w_in[m * per_channel + k] * v;
        b_out[m] = scale ? b * v : b + v;
      }
      const std::string base = conv.name.empty() ? graph.value(y).name : conv.name;
      conv.inputs.resize(3);
      if (scale && !in_place) conv.inputs[1] = graph.add_constant(base + "/scaled_weight", std::move(new_w).value());
      conv.inputs[2] = graph.add_constant(base + (scale ? "/scaled_bias" : "/shifted_bias"), std::move(new_b).value());
      conv.outputs[0] = op.outputs[0];
      dead[r] = true;
      ++folded;
      changed = true;
    }
    if (changed) passes::remove_nodes(graph, dead);
  }
  return folded;
}

}  // namespace iskra
