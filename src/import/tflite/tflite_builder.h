// Internal to the TFLite importer: what the op converters (tflite_ops.cc) see
// of the graph being built (tflite_importer.cc).
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "tflite_schema_generated.h"

namespace iskra::tflite {

namespace schema = iskra::tflite_schema;

// One TFLite operator to convert. Values are IR value ids (kNoValue for an
// absent optional input, TFLite's -1); the tensors are the file's tables, for
// what the IR value does not carry (quantization parameters).
struct OpToConvert {
  const schema::Operator* op = nullptr;
  schema::BuiltinOperator code{};
  std::string custom_code;   // for CUSTOM
  int version = 1;
  std::string name;          // for nodes: the first output tensor's name
  std::string source_op;     // "tflite:CONV_2D-v2", for messages
  std::vector<int> inputs;
  std::vector<int> outputs;
  std::vector<const schema::Tensor*> input_tensors;  // nullptr where absent
  std::vector<int> output_tensor_ids;                // indices in the subgraph's tensors
  std::vector<const schema::Tensor*> output_tensors;  // their tables

  // "tflite operator #12 (CONV_2D) 'name': " — the prefix of every error about it.
  std::string label;
};

// Appends IR nodes and values to the graph.
class GraphEmitter {
 public:
  GraphEmitter(Graph& graph, std::vector<int>& value_of_tensor) : graph_(graph), value_of_tensor_(value_of_tensor) {}

  Graph& graph() { return graph_; }
  const Value& value(int id) const { return graph_.value(id); }
  // The constant a value holds, or nullptr.
  const Tensor* constant(int id) const {
    return id != kNoValue && graph_.value(id).constant ? &*graph_.value(id).constant : nullptr;
  }
  // The declared (static) shape of a value when every dim is known.
  std::optional<Shape> static_shape(int id) const;

  Node& emit(OpKind op, const OpToConvert& from, std::vector<int> inputs, std::vector<int> outputs);
  int new_value(const std::string& name, DType dtype, std::optional<Shape> shape = std::nullopt);
  int add_constant(const std::string& name, Tensor t) { return graph_.add_constant(name, std::move(t)); }
  int constant_i64(const std::string& name, const std::vector<int64_t>& values);
  int constant_f32(const std::string& name, float value);
  // Rebinds a TFLite tensor to another value: an op folded at load (DEQUANTIZE
  // of a constant) makes its output tensor a constant instead of a node.
  void bind_tensor(int tensor_index, int value) { value_of_tensor_[static_cast<size_t>(tensor_index)] = value; }

 private:
  Graph& graph_;
  std::vector<int>& value_of_tensor_;
};

// Converts one operator into IR nodes (or folds it, see bind_tensor): ops on
// quantized values by tflite_quantized.cc, the others by convert_float_operator.
Status convert_operator(const OpToConvert& op, GraphEmitter& emitter);
// The float (and plain integer) ops, tflite_ops.cc.
Status convert_float_operator(const OpToConvert& op, GraphEmitter& emitter);

// A quantized constant (int8 / uint8 / int16 with the scales and zero points of
// its TFLite tensor, per tensor or per channel) as float32.
Result<Tensor> dequantized_constant(const Tensor& t, const schema::Tensor* tensor);

// The TFLite element type as an IR dtype; an error naming `what` for types Iskra cannot hold.
Result<DType> dtype_from_tflite(schema::TensorType type, const std::string& what);

// A sparse constant (TFLite's sparsity parameters) expanded to its dense
// `shape`; every index and segment checked against the data.
Result<Tensor> densify(const schema::SparsityParameters& sparsity, DType dtype, const Shape& shape,
                       const uint8_t* data, size_t bytes, const std::string& what);

}  // namespace iskra::tflite
