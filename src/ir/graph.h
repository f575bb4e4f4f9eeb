// The graph IR: values (edges) and nodes (ops) in topological order.
//
// A Graph owns its values and nodes; nodes refer to values by index. A value
// is produced by at most one node, or is a graph input, or holds a constant
// (initializer). Subgraphs (If/Loop/Scan bodies) are Graphs held in node
// attributes; values they use from enclosing graphs are made explicit by the
// importer as extra node inputs ("captures"), so a subgraph never reaches
// outward by name.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/status.h"
#include "ir/op_kind.h"
#include "ir/tensor.h"

namespace iskra {

struct Graph;

// A dimension as declared in a model: a known size, or a symbol ("batch"), or
// unknown (symbol empty and size -1).
struct Dim {
  int64_t size = -1;
  std::string symbol;
  bool is_known() const { return size >= 0; }
};
using SymbolicShape = std::vector<Dim>;
std::string symbolic_shape_to_string(const SymbolicShape& shape);  // "[batch,3,?,224]"

// Typed attribute value. Float lists stay float (ONNX stores float32).
using AttrValue = std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>,
                               std::vector<std::string>, Tensor, std::shared_ptr<Graph>>;

inline constexpr int kNoValue = -1;  // an absent optional input/output

struct Node {
  OpKind op{};
  std::string name;       // from the model, may be empty
  std::string source_op;  // op as written in the file, e.g. "ai.onnx:Upsample-9", for messages
  std::vector<int> inputs;   // value ids; kNoValue for an absent optional input
  std::vector<int> outputs;  // value ids; kNoValue for an unused optional output
  std::map<std::string, AttrValue> attrs;
  // Control-flow nodes: the last `capture_count` inputs are outer values that
  // the subgraphs use (see Graph::captures). Zero for every other node.
  size_t capture_count = 0;

  bool has_attr(const std::string& key) const { return attrs.count(key) != 0; }
  int64_t attr_int(const std::string& key, int64_t fallback) const;
  float attr_float(const std::string& key, float fallback) const;
  std::string attr_string(const std::string& key, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const std::string& key, std::vector<int64_t> fallback = {}) const;
  std::vector<float> attr_floats(const std::string& key, std::vector<float> fallback = {}) const;
  const Tensor* attr_tensor(const std::string& key) const;
  const Graph* attr_graph(const std::string& key) const;

  bool has_input(size_t i) const { return i < inputs.size() && inputs[i] != kNoValue; }
  bool has_output(size_t i) const { return i < outputs.size() && outputs[i] != kNoValue; }
  // "node 'name' (Op): " — the prefix for every error about this node.
  std::string label() const;
};

struct Value {
  std::string name;
  DType dtype = DType::kUndefined;   // kUndefined until known
  std::optional<SymbolicShape> shape;  // declared or inferred; nullopt = unknown rank
  std::optional<Tensor> constant;    // initializers and folded constants
  int producer = kNoValue;           // index of the producing node
};

struct Graph {
  std::string name;
  std::vector<Value> values;
  std::vector<Node> nodes;  // topologically sorted after import
  std::vector<int> inputs;  // graph inputs, in order (never constants)
  std::vector<int> outputs;
  // For subgraphs: values bound to the owning node's capture inputs, i.e. to
  // node.inputs[first_capture_input + k]; kNoValue where this body does not
  // use that capture.
  std::vector<int> captures;

  int add_value(std::string value_name, DType dtype = DType::kUndefined) {
    values.push_back(Value{std::move(value_name), dtype, std::nullopt, std::nullopt, kNoValue});
    return static_cast<int>(values.size()) - 1;
  }
  int add_constant(std::string value_name, Tensor t) {
    int id = add_value(std::move(value_name), t.dtype());
    Value& v = values.back();
    SymbolicShape s;
    for (int64_t d : t.shape()) s.push_back(Dim{d, {}});
    v.shape = std::move(s);
    v.constant = std::move(t);
    return id;
  }
  const Value& value(int id) const { return values[static_cast<size_t>(id)]; }
  Value& value(int id) { return values[static_cast<size_t>(id)]; }
};

// Index of the first capture input of a node (inputs.size() when it has none).
inline size_t first_capture_input(const Node& node) { return node.inputs.size() - node.capture_count; }

// Checks structural invariants: value ids in range, each value produced once,
// inputs defined before use (topological order, hence no cycles), graph
// outputs defined, subgraphs valid recursively. Names the offending node.
Status verify_graph(const Graph& graph);

// Sorts nodes topologically (Kahn). Fails naming a node on a cycle or an input
// that nothing produces. `defined_outside` lists values already available
// (captures from enclosing graphs).
Status topological_sort(Graph& graph);

}  // namespace iskra
