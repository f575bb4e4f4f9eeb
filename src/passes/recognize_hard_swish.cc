// HardSwish written out as x · Clip(x + 3, 0, 6) / 6 (PaddlePaddle exports)
// becomes one HardSwish node, which the epilogue pass can then fuse into the
// producing Conv. Same value up to rounding: HardSwish(x) = x·clip(x/6 + ½, 0, 1).
#include <optional>

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace iskra {

namespace {

bool is_scalar(const Graph& graph, int value, float expected) {
  const Tensor* t = passes::constant_f32(graph, value);
  return t && t->element_count() == 1 && t->data<float>()[0] == expected;
}

// The operand of a two-input node that is not `known`, or nullopt.
std::optional<int> other_input(const Node& node, int known) {
  if (node.inputs.size() != 2) return std::nullopt;
  if (node.inputs[0] == known) return node.inputs[1];
  if (node.inputs[1] == known) return node.inputs[0];
  return std::nullopt;
}

}  // namespace

int recognize_hard_swish(Graph& graph) {
  const auto consumers = passes::consumers_of(graph);
  std::vector<bool> dead(graph.nodes.size(), false);
  auto sole_reader = [&](int value) -> const Node* {
    const auto& readers = consumers[static_cast<size_t>(value)];
    if (readers.size() != 1 || passes::is_graph_output(graph, value) || dead[static_cast<size_t>(readers[0])])
      return nullptr;
    return &graph.nodes[static_cast<size_t>(readers[0])];
  };
  auto index_of = [&](const Node* node) { return static_cast<size_t>(node - graph.nodes.data()); };
  int found = 0;
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& add = graph.nodes[n];
    if (add.op != OpKind::Add || dead[n] || add.outputs.size() != 1) continue;
    // Add(x, 3)
    std::optional<int> x;
    for (int i : {0, 1})
      if (add.inputs.size() == 2 && is_scalar(graph, add.inputs[static_cast<size_t>(1 - i)], 3.0f)) x = add.inputs[size_t(i)];
    if (!x || graph.value(*x).constant) continue;
    // Clip(·, 0, 6)
    const Node* clip = sole_reader(add.outputs[0]);
    if (!clip || clip->op != OpKind::Clip || clip->inputs.size() != 3 || clip->inputs[0] != add.outputs[0] ||
        !is_scalar(graph, clip->inputs[1], 0.0f) || !is_scalar(graph, clip->inputs[2], 6.0f))
      continue;
    // Mul(x, clip)
    const Node* mul = sole_reader(clip->outputs[0]);
    if (!mul || mul->op != OpKind::Mul || other_input(*mul, clip->outputs[0]) != x) continue;
    // Div(·, 6)
    const Node* div = sole_reader(mul->outputs[0]);
    if (!div || div->op != OpKind::Div || div->inputs.size() != 2 || div->inputs[0] != mul->outputs[0] ||
        !is_scalar(graph, div->inputs[1], 6.0f))
      continue;
    Node hard_swish;
    hard_swish.op = OpKind::HardSwish;
    hard_swish.name = div->name.empty() ? add.name : div->name;
    hard_swish.source_op = "HardSwish (from Add+Clip+Mul+Div)";
    hard_swish.inputs = {*x};
    hard_swish.outputs = {div->outputs[0]};
    const size_t at = index_of(div);
    dead[n] = dead[index_of(clip)] = dead[index_of(mul)] = true;
    graph.nodes[at] = std::move(hard_swish);  // the Div's slot: x is computed before it
    ++found;
  }
  if (found > 0) passes::remove_nodes(graph, dead);
  return found;
}

}  // namespace iskra
