// Identity, and inference-mode Dropout, pass their input through: rewire the
// readers of their output to their input and drop the node.
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace iskra {

namespace {

// Dropout is the identity when it is not training (training_mode absent or a
// constant false) and its mask output is unused.
bool is_pass_through(const Graph& graph, const Node& node) {
  if (node.op == OpKind::Identity) return node.inputs.size() == 1 && node.outputs.size() == 1;
  if (node.op != OpKind::Dropout || node.has_output(1) || !node.has_input(0)) return false;
  if (!node.has_input(2)) return true;
  const Value& mode = graph.value(node.inputs[2]);
  return mode.constant && mode.constant->dtype() == DType::kBool && mode.constant->element_count() == 1 &&
         !mode.constant->data<bool>()[0];
}

}  // namespace

int remove_identities(Graph& graph) {
  std::vector<bool> dead(graph.nodes.size(), false);
  int removed = 0;
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    Node& node = graph.nodes[n];
    if (!is_pass_through(graph, node) || node.inputs[0] == kNoValue || node.outputs[0] == kNoValue) continue;
    const int in = node.inputs[0], out = node.outputs[0];
    if (!passes::is_graph_output(graph, out)) {
      passes::replace_uses(graph, out, in);
    } else {
      // The output name must survive: let the input's producer write it,
      // unless the input is itself a graph input, constant or output.
      const int producer = graph.value(in).producer;
      if (producer == kNoValue || passes::is_graph_output(graph, in)) continue;
      for (int& id : graph.nodes[static_cast<size_t>(producer)].outputs)
        if (id == in) id = out;
      passes::replace_uses(graph, in, out);
      graph.value(out).producer = producer;
    }
    dead[n] = true;
    ++removed;
  }
  if (removed > 0) passes::remove_nodes(graph, dead);
  return removed;
}

}  // namespace iskra
