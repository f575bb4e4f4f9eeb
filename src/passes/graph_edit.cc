#include "passes/graph_edit.h"

#include <algorithm>

namespace iskra::passes {

std::vector<std::vector<int>> consumers_of(const Graph& graph) {
  std::vector<std::vector<int>> consumers(graph.values.size());
  for (size_t n = 0; n < graph.nodes.size(); ++n)
    for (int id : graph.nodes[n].inputs)
      if (id != kNoValue) consumers[static_cast<size_t>(id)].push_back(static_cast<int>(n));
  return consumers;
}

bool is_graph_output(const Graph& graph, int value) {
  return std::find(graph.outputs.begin(), graph.outputs.end(), value) != graph.outputs.end();
}

void replace_uses(Graph& graph, int from, int to) {
  for (Node& node : graph.nodes)
    for (int& id : node.inputs)
      if (id == from) id = to;
}

void remove_nodes(Graph& graph, const std::vector<bool>& dead) {
  std::vector<Node> kept;
  kept.reserve(graph.nodes.size());
  for (size_t n = 0; n < graph.nodes.size(); ++n)
    if (!dead[n]) kept.push_back(std::move(graph.nodes[n]));
  graph.nodes = std::move(kept);
  std::vector<bool> read(graph.values.size(), false);
  for (Value& v : graph.values) v.producer = kNoValue;
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    for (int id : graph.nodes[n].outputs)
      if (id != kNoValue) graph.value(id).producer = static_cast<int>(n);
    for (int id : graph.nodes[n].inputs)
      if (id != kNoValue) read[static_cast<size_t>(id)] = true;
  }
  for (int id : graph.outputs) read[static_cast<size_t>(id)] = true;
  for (int id : graph.captures)
    if (id != kNoValue) read[static_cast<size_t>(id)] = true;
  for (size_t v = 0; v < graph.values.size(); ++v)
    if (!read[v]) graph.values[v].constant.reset();
}

const Tensor* constant_f32(const Graph& graph, int value) {
  if (value == kNoValue) return nullptr;
  const Value& v = graph.value(value);
  if (!v.constant || v.constant->dtype() != DType::kF32) return nullptr;
  return &*v.constant;
}

Tensor* exclusive_constant_f32(Graph& graph, int value, const std::vector<std::vector<int>>& consumers) {
  if (!constant_f32(graph, value) || is_graph_output(graph, value)) return nullptr;
  if (consumers[static_cast<size_t>(value)].size() != 1) return nullptr;
  Tensor& t = *graph.value(value).constant;
  if (!t.owner() || t.owner().use_count() != 1 || t.owner().get() != t.raw_data()) return nullptr;
  return &t;
}

}  // namespace iskra::passes
