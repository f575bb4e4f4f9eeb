// Conv → BatchNormalization with constant parameters becomes one Conv:
//   BN(y) = (y - mean) * s + B,  s = scale / sqrt(var + epsilon)
// so W'[m] = W[m] * s[m] and b'[m] = (b[m] - mean[m]) * s[m] + B[m].
#include <cmath>

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace iskra {

namespace {

// The BN's per-channel scale s and shift, or false if it is not foldable.
bool batch_norm_affine(const Graph& graph, const Node& bn, int64_t channels, std::vector<float>& scale,
                       std::vector<float>& shift) {
  if (bn.inputs.size() != 5 || bn.attr_int("training_mode", 0) != 0) return false;
  for (size_t o = 1; o < bn.outputs.size(); ++o)
    if (bn.has_output(o)) return false;
  const Tensor* params[4];
  for (size_t i = 0; i < 4; ++i) {
    params[i] = passes::constant_f32(graph, bn.inputs[i + 1]);
    if (!params[i] || params[i]->element_count() != channels) return false;
  }
  const float epsilon = bn.attr_float("epsilon", 1e-5f);
  const float *gamma = params[0]->data<float>(), *beta = params[1]->data<float>();
  const float *mean = params[2]->data<float>(), *var = params[3]->data<float>();
  scale.resize(static_cast<size_t>(channels));
  shift.resize(static_cast<size_t>(channels));
  for (size_t c = 0; c < scale.size(); ++c) {
    scale[c] = gamma[c] / std::sqrt(var[c] + epsilon);
    shift[c] = beta[c] - mean[c] * scale[c];
  }
  return true;
}

}  // namespace

int fold_conv_batch_norm(Graph& graph) {
  const auto consumers = passes::consumers_of(graph);
  std::vector<bool> dead(graph.nodes.size(), false);
  int folded = 0;
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    Node& conv = graph.nodes[n];
    if (conv.op != OpKind::Conv || conv.outputs.size() != 1 || conv.inputs.size() < 2) continue;
    const int y = conv.outputs[0];
    const auto& readers = consumers[static_cast<size_t>(y)];
    if (readers.size() != 1 || passes::is_graph_output(graph, y)) continue;
    Node& bn = graph.nodes[static_cast<size_t>(readers[0])];
    if (bn.op != OpKind::BatchNormalization || bn.inputs[0] != y || !bn.has_output(0)) continue;
    const Tensor* w = passes::constant_f32(graph, conv.inputs[1]);
    if (!w || w->rank() < 3) continue;
    const int64_t channels = w->dim(0);
    const Tensor* bias = conv.has_input(2) ? passes::constant_f32(graph, conv.inputs[2]) : nullptr;
    if (conv.has_input(2) && (!bias || bias->element_count() != channels)) continue;
    std::vector<float> scale, shift;
    if (!batch_norm_affine(graph, bn, channels, scale, shift)) continue;

    // The weights are scaled in place when nothing else can see them (the
    // usual case: a copy of 100 MB of weights saved at load), else copied.
    Tensor* in_place = passes::exclusive_constant_f32(graph, conv.inputs[1], consumers);
    auto new_w = in_place ? Result<Tensor>(Tensor()) : Tensor::allocate_uninitialized(DType::kF32, w->shape());
    auto new_b = Tensor::allocate_uninitialized(DType::kF32, {channels});
    if (!new_w || !new_b) continue;  // out of memory: leave the graph as it is
    const int64_t per_channel = w->element_count() / channels;
    const float* w_in = w->data<float>();
    float* w_out = in_place ? in_place->data<float>() : new_w->data<float>();
    float* b_out = new_b->data<float>();
    for (int64_t m = 0; m < channels; ++m) {
      for (int64_t k = 0; k < per_channel; ++k) w_out[m * per_channel + k] = w_in[m * per_channel + k] * scale[size_t(m)];
      b_out[m] = (bias ? bias->data<float>()[m] : 0.0f) * scale[size_t(m)] + shift[size_t(m)];
    }
    const std::string base = conv.name.empty() ? graph.value(y).name : conv.name;
    conv.inputs.resize(3);
    if (!in_place) conv.inputs[1] = graph.add_constant(base + "/folded_weight", std::move(new_w).value());
    conv.inputs[2] = graph.add_constant(base + "/folded_bias", std::move(new_b).value());
    conv.outputs[0] = bn.outputs[0];
    dead[static_cast<size_t>(readers[0])] = true;
    ++folded;
  }
  if (folded > 0) passes::remove_nodes(graph, dead);
  return folded;
}

}  // namespace iskra
