// Shape and dtype inference on concrete shapes.
//
// The planner calls an op's InferFn with the inputs' dtypes and shapes, and
// their values where known (constants, or values folded at plan time such as
// the output of Shape). An op whose output shape depends on an input value it
// cannot see returns StatusCode::kNeedsValue (via value_ints & co.); the
// runtime then infers that node at run time, with every value known.
#pragma once

#include <span>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "ir/tensor.h"

namespace iskra {

struct TensorType {
  DType dtype = DType::kUndefined;
  Shape shape;
};

class InferContext {
 public:
  // `inputs[i]` is nullptr for an absent optional input; a present input always
  // has dtype and shape, and has_data() only when its value is known.
  InferContext(const Node& node, std::span<const Tensor* const> inputs, std::vector<TensorType>& outputs)
      : node_(node), inputs_(inputs), outputs_(outputs) {
    outputs_.assign(node.outputs.size(), TensorType{});
  }

  const Node& node() const { return node_; }
  size_t input_count() const { return inputs_.size(); }
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  const Tensor& input(size_t i) const { return *inputs_[i]; }
  DType dtype(size_t i) const { return inputs_[i]->dtype(); }
  const Shape& shape(size_t i) const { return inputs_[i]->shape(); }
  int rank(size_t i) const { return inputs_[i]->rank(); }
  bool has_value(size_t i) const { return has_input(i) && inputs_[i]->has_data(); }

  // The value of an integer input as int64s; kNeedsValue if not known yet.
  Result<std::vector<int64_t>> value_ints(size_t i) const {
    if (!has_input(i)) return invalid_model(node_.label(), "missing input ", i);
    if (!inputs_[i]->has_data()) return needs_value(node_.label(), "needs the value of input ", i);
    if (!dtype_is_integer(inputs_[i]->dtype()) && inputs_[i]->dtype() != DType::kBool)
      return invalid_model(node_.label(), "input ", i, " must be an integer tensor, got ",
                           inputs_[i]->describe());
    return tensor_to_int64s(*inputs_[i]);
  }
  // The value of a numeric input as doubles; kNeedsValue if not known yet.
  Result<std::vector<double>> value_doubles(size_t i) const {
    if (!has_input(i)) return invalid_model(node_.label(), "missing input ", i);
    if (!inputs_[i]->has_data()) return needs_value(node_.label(), "needs the value of input ", i);
    std::vector<double> out(static_cast<size_t>(inputs_[i]->element_count()));
    for (size_t k = 0; k < out.size(); ++k) out[k] = tensor_double_at(*inputs_[i], static_cast<int64_t>(k));
    return out;
  }

  size_t output_count() const { return outputs_.size(); }
  // For ops whose kernels write `n` outputs (unused ones are still listed, as "").
  Status require_outputs(size_t n) const {
    if (outputs_.size() >= n) return Status::ok();
    return invalid_model(node_.label(), "has ", outputs_.size(), " outputs, the op produces ", n);
  }
  // What set_output stored for output i (composite ops build on their parts).
  const TensorType& output_type(size_t i) const { return outputs_[i]; }
  void set_output(size_t i, DType dtype, Shape shape) {
    if (i < outputs_.size()) outputs_[i] = TensorType{dtype, std::move(shape)};
  }

  // Error helpers that name the node.
  template <typename... Args>
  Status error(const Args&... args) const { return invalid_model(node_.label(), args...); }
  template <typename... Args>
  Status unsupported_error(const Args&... args) const { return unsupported(node_.label(), args...); }

 private:
  const Node& node_;
  std::span<const Tensor* const> inputs_;
  std::vector<TensorType>& outputs_;
};

using InferFn = Status (*)(InferContext&);

}  // namespace iskra
