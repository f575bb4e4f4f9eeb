#include "ir/graph.h"

#include <queue>
#include <unordered_set>

namespace iskra {

std::string symbolic_shape_to_string(const SymbolicShape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    if (shape[i].is_known()) s += std::to_string(shape[i].size);
    else s += shape[i].symbol.empty() ? "?" : shape[i].symbol;
  }
  return s + "]";
}

namespace {
template <typename T>
const T* find_attr(const Node& node, const std::string& key) {
  auto it = node.attrs.find(key);
  if (it == node.attrs.end()) return nullptr;
  return std::get_if<T>(&it->second);
}
}  // namespace

int64_t Node::attr_int(const std::string& key, int64_t fallback) const {
  if (auto* v = find_attr<int64_t>(*this, key)) return *v;
  return fallback;
}
float Node::attr_float(const std::string& key, float fallback) const {
  if (auto* v = find_attr<float>(*this, key)) return *v;
  if (auto* v = find_attr<int64_t>(*this, key)) return static_cast<float>(*v);
  return fallback;
}
std::string Node::attr_string(const std::string& key, const std::string& fallback) const {
  if (auto* v = find_attr<std::string>(*this, key)) return *v;
  return fallback;
}
std::vector<int64_t> Node::attr_ints(const std::string& key, std::vector<int64_t> fallback) const {
  if (auto* v = find_attr<std::vector<int64_t>>(*this, key)) return *v;
  if (auto* v = find_attr<int64_t>(*this, key)) return {*v};
  return fallback;
}
std::vector<float> Node::attr_floats(const std::string& key, std::vector<float> fallback) const {
  if (auto* v = find_attr<std::vector<float>>(*this, key)) return *v;
  if (auto* v = find_attr<float>(*this, key)) return {*v};
  return fallback;
}
const Tensor* Node::attr_tensor(const std::string& key) const { return find_attr<Tensor>(*this, key); }
const Graph* Node::attr_graph(const std::string& key) const {
  auto* g = find_attr<std::shared_ptr<Graph>>(*this, key);
  return g ? g->get() : nullptr;
}

std::string Node::label() const {
  const std::string op_text = source_op.empty() ? op_name(op) : source_op;
  if (name.empty()) return str_cat("node (", op_text, "): ");
  return str_cat("node '", name, "' (", op_text, "): ");
}

Status verify_graph(const Graph& graph) {
  const int value_count = static_cast<int>(graph.values.size());
  std::vector<bool> defined(graph.values.size(), false);
  auto in_range = [&](int id) { return id >= 0 && id < value_count; };

  for (int id : graph.inputs) {
    if (!in_range(id)) return invalid_model("graph '", graph.name, "': input id ", id, " out of range");
    defined[static_cast<size_t>(id)] = true;
  }
  for (int id : graph.captures) {
    if (id == kNoValue) continue;
    if (!in_range(id)) return invalid_model("graph '", graph.name, "': capture id out of range");
    defined[static_cast<size_t>(id)] = true;
  }
  for (int id = 0; id < value_count; ++id)
    if (graph.values[static_cast<size_t>(id)].constant) defined[static_cast<size_t>(id)] = true;

  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& node = graph.nodes[n];
    for (int id : node.inputs) {
      if (id == kNoValue) continue;
      if (!in_range(id)) return invalid_model(node.label(), "input value id ", id, " out of range");
      if (!defined[static_cast<size_t>(id)])
        return invalid_model(node.label(), "input '", graph.value(id).name,
                             "' is used before it is produced (dangling value or cycle)");
    }
    // Every op has an output; kernels write output 0 (a fuzzer's Softmax without one crashed).
    if (node.outputs.empty()) return invalid_model(node.label(), "has no outputs");
    for (int id : node.outputs) {
      if (id == kNoValue) continue;
      if (!in_range(id)) return invalid_model(node.label(), "output value id ", id, " out of range");
      if (defined[static_cast<size_t>(id)])
        return invalid_model(node.label(), "output '", graph.value(id).name,
                             "' is already defined by another node, input or constant");
      defined[static_cast<size_t>(id)] = true;
    }
    if (node.capture_count > node.inputs.size())
      return invalid_model(node.label(), "more captures than inputs");
    for (const auto& [key, attr] : node.attrs) {
      if (auto* sub = std::get_if<std::shared_ptr<Graph>>(&attr)) {
        if (!*sub) return invalid_model(node.label(), "attribute '", key, "' holds no graph");
        if ((*sub)->captures.size() != node.capture_count)
          return invalid_model(node.label(), "subgraph '", key, "' capture count mismatch");
        ISKRA_RETURN_IF_ERROR(verify_graph(**sub).with_context(node.label() + "in '" + key + "': "));
      }
    }
  }
  for (int id : graph.outputs) {
    if (!in_range(id)) return invalid_model("graph '", graph.name, "': output id out of range");
    if (!defined[static_cast<size_t>(id)])
      return invalid_model("graph '", graph.name, "': output '", graph.value(id).name,
                           "' is never produced");
  }
  return Status::ok();
}

Status topological_sort(Graph& graph) {
  const size_t node_count = graph.nodes.size();
  std::vector<int> producer(graph.values.size(), kNoValue);
  for (size_t n = 0; n < node_count; ++n)
    for (int id : graph.nodes[n].outputs)
      if (id != kNoValue && id >= 0 && static_cast<size_t>(id) < producer.size())
        producer[static_cast<size_t>(id)] = static_cast<int>(n);

  std::vector<int> pending(node_count, 0);
  std::vector<std::vector<int>> consumers(node_count);
  for (size_t n = 0; n < node_count; ++n) {
    std::unordered_set<int> seen;
    for (int id : graph.nodes[n].inputs) {
      if (id == kNoValue || id < 0 || static_cast<size_t>(id) >= producer.size()) continue;
      int p = producer[static_cast<size_t>(id)];
      if (p == kNoValue || !seen.insert(p).second) continue;
      ++pending[n];
      consumers[static_cast<size_t>(p)].push_back(static_cast<int>(n));
    }
  }
  // Kahn's algorithm; a min-heap keeps the file's order among ready nodes.
  std::priority_queue<int, std::vector<int>, std::greater<>> ready;
  for (size_t n = 0; n < node_count; ++n)
    if (pending[n] == 0) ready.push(static_cast<int>(n));
  std::vector<int> order;
  order.reserve(node_count);
  while (!ready.empty()) {
    int n = ready.top();
    ready.pop();
    order.push_back(n);
    for (int c : consumers[static_cast<size_t>(n)])
      if (--pending[static_cast<size_t>(c)] == 0) ready.push(c);
  }
  if (order.size() != node_count) {
    for (size_t n = 0; n < node_count; ++n)
      if (pending[n] > 0) return invalid_model(graph.nodes[n].label(), "is part of a cycle");
  }
  std::vector<Node> sorted;
  sorted.reserve(node_count);
  for (int n : order) sorted.push_back(std::move(graph.nodes[static_cast<size_t>(n)]));
  graph.nodes = std::move(sorted);
  for (size_t n = 0; n < node_count; ++n)
    for (int id : graph.nodes[n].outputs)
      if (id != kNoValue) graph.value(id).producer = static_cast<int>(n);
  return Status::ok();
}

}  // namespace iskra
