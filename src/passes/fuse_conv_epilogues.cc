// Conv → [Add residual] → [activation] becomes one FusedConv, so the fast
// kernel adds the residual and applies the activation while the output tile
// is still in registers or cache, instead of three passes over memory.
//
//   residual:   Conv output read only by an Add whose other operand is not
//               constant → FusedConv(X, W, B, Sum); the node moves to the
//               Add's position, where Sum is sure to be computed.
//   activation: output read only by Relu, Clip (constant scalar bounds),
//               LeakyRelu, Sigmoid, HardSigmoid, HardSwish or Tanh; or by
//               Sigmoid(y) and Mul(y, Sigmoid(y)) alone (SiLU / Swish).
// Only Convs with constant float32 weights are fused: those are the ones the
// fast kernel handles. The pass runs before the layout pass (on Conv) and
// again after it (on FusedConvNhwc that has no epilogue yet): in graphs that
// are channels-last already (TFLite), the Add and activation after a conv
// only follow it directly once the layout pass has removed the transposes.
#include <algorithm>
#include <limits>
#include <optional>

#include "kernels/fused.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace iskra {

namespace {

using cpu::Activation;
using cpu::ActivationKind;

std::optional<float> constant_scalar(const Graph& graph, int value) {
  const Tensor* t = passes::constant_f32(graph, value);
  if (!t || t->element_count() != 1) return std::nullopt;
  return t->data<float>()[0];
}

// The activation a single-input node computes, if it is one we fuse.
std::optional<Activation> activation_of(const Graph& graph, const Node& node) {
  switch (node.op) {
    case OpKind::Relu: return Activation{ActivationKind::kRelu};
    case OpKind::Sigmoid: return Activation{ActivationKind::kSigmoid};
    case OpKind::Tanh: return Activation{ActivationKind::kTanh};
    case OpKind::HardSwish: return Activation{ActivationKind::kHardSwish};
    case OpKind::LeakyRelu: return Activation{ActivationKind::kLeakyRelu, node.attr_float("alpha", 0.01f)};
    case OpKind::HardSigmoid:
      return Activation{ActivationKind::kHardSigmoid, node.attr_float("alpha", 0.2f), node.attr_float("beta", 0.5f)};
    case OpKind::Clip: {
      Activation clip{ActivationKind::kClip, -std::numeric_limits<float>::infinity(),
                      std::numeric_limits<float>::infinity()};
      if (node.has_input(1)) {
        auto lo = constant_scalar(graph, node.inputs[1]);
        if (!lo) return std::nullopt;
        clip.alpha = *lo;
      }
      if (node.has_input(2)) {
        auto hi = constant_scalar(graph, node.inputs[2]);
        if (!hi) return std::nullopt;
        clip.beta = *hi;
      }
      return clip;
    }
    default: return std::nullopt;
  }
}

// A Conv, or a FusedConvNhwc with neither residual nor activation yet.
bool is_bare_conv(const Node& node) {
  if (node.op == OpKind::Conv) return true;
  return node.op == OpKind::FusedConvNhwc && !node.has_input(3) && !has_fused_activation(node);
}

// The op a conv becomes with an epilogue: FusedConv, or FusedConvNhwc as it was.
OpKind fused_op(OpKind op) { return op == OpKind::Conv ? OpKind::FusedConv : op; }

class EpilogueFuser {
 public:
  EpilogueFuser(Graph& graph, PassStats& stats)
      : graph_(graph), stats_(stats), consumers_(passes::consumers_of(graph)), dead_(graph.nodes.size(), false) {}

  void run() {
    for (size_t n = 0; n < graph_.nodes.size(); ++n) {
      const Node& node = graph_.nodes[n];
      if (dead_[n] || !is_bare_conv(node) || node.outputs.size() != 1 || !node.has_output(0)) continue;
      if (!passes::constant_f32(graph_, node.inputs.size() > 1 ? node.inputs[1] : kNoValue)) continue;
      size_t at = fuse_residual(n);
      fuse_activation(at);
    }
    passes::remove_nodes(graph_, dead_);
  }

 private:
  // The only node reading `value`, if exactly one does and it is not a graph output.
  std::optional<size_t> sole_reader(int value) const {
    const auto& readers = consumers_[static_cast<size_t>(value)];
    if (readers.size() != 1 || passes::is_graph_output(graph_, value)) return std::nullopt;
    return static_cast<size_t>(readers[0]);
  }

  // Returns the node's index afterwards (it moves to the Add's slot).
  size_t fuse_residual(size_t n) {
    const int y = graph_.nodes[n].outputs[0];
    const auto add_index = sole_reader(y);
    if (!add_index) return n;
    Node& add = graph_.nodes[*add_index];
    if (add.op != OpKind::Add || add.inputs.size() != 2 || add.inputs[0] == add.inputs[1]) return n;
    const int other = add.inputs[0] == y ? add.inputs[1] : add.inputs[0];
    if (graph_.value(other).constant) return n;
    Node fused = std::move(graph_.nodes[n]);
    fused.op = fused_op(fused.op);
    fused.inputs.resize(3, kNoValue);
    fused.inputs.push_back(other);
    fused.outputs[0] = add.outputs[0];
    // The Add's readers now read the fused node, which takes the Add's slot.
    add = std::move(fused);
    dead_[n] = true;
    for (auto& readers : consumers_)
      for (int& r : readers)
        if (r == static_cast<int>(n)) r = static_cast<int>(*add_index);
    ++stats_.residual_adds_fused;
    return *add_index;
  }

  void fuse_activation(size_t n) {
    Node& conv = graph_.nodes[n];
    const int y = conv.outputs[0];
    const auto& readers = consumers_[static_cast<size_t>(y)];
    if (passes::is_graph_output(graph_, y)) return;
    if (readers.size() == 1) {
      const size_t a = static_cast<size_t>(readers[0]);
      const Node& act_node = graph_.nodes[a];
      auto act = activation_of(graph_, act_node);
      if (!act || act_node.inputs.empty() || act_node.inputs[0] != y || act_node.outputs.size() != 1) return;
      conv.op = fused_op(conv.op);
      set_fused_activation(conv, *act);
      conv.outputs[0] = act_node.outputs[0];
      dead_[a] = true;
      ++stats_.activations_fused;
      return;
    }
    if (readers.size() == 2) fuse_silu(n, readers[0], readers[1]);
  }

  // y read by exactly Sigmoid(y) = s and Mul(y, s), s read only by that Mul.
  void fuse_silu(size_t n, int r0, int r1) {
    Node& conv = graph_.nodes[n];
    const int y = conv.outputs[0];
    size_t sig = static_cast<size_t>(r0), mul = static_cast<size_t>(r1);
    if (graph_.nodes[sig].op != OpKind::Sigmoid) std::swap(sig, mul);
    const Node& s = graph_.nodes[sig];
    const Node& m = graph_.nodes[mul];
    if (s.op != OpKind::Sigmoid || m.op != OpKind::Mul || s.outputs.size() != 1 || m.inputs.size() != 2) return;
    const int sv = s.outputs[0];
    const bool pairs = (m.inputs[0] == y && m.inputs[1] == sv) || (m.inputs[1] == y && m.inputs[0] == sv);
    if (!pairs || sole_reader(sv) != mul) return;
    conv.op = fused_op(conv.op);
    set_fused_activation(conv, Activation{ActivationKind::kSilu});
    conv.outputs[0] = m.outputs[0];
    dead_[sig] = dead_[mul] = true;
    ++stats_.activations_fused;
  }

  Graph& graph_;
  PassStats& stats_;
  std::vector<std::vector<int>> consumers_;
  std::vector<bool> dead_;
};

}  // namespace

void fuse_conv_epilogues(Graph& graph, PassStats& stats) { EpilogueFuser(graph, stats).run(); }

}  // namespace iskra
