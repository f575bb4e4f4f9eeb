// The op table: for each IR op, its shape function and its reference kernel.
//
// Reference kernels are scalar and simple: they are the oracle every optimized
// kernel is diffed against, and the fallback for any op without one.
// Registration is explicit (register_ref_kernels below), never by static
// initializers, so nothing is dropped by the linker.
#pragma once

#include <array>
#include <span>

#include "base/status.h"
#include "ir/graph.h"
#include "ir/infer.h"
#include "ir/tensor.h"

namespace iskra {

// What a kernel sees when it runs. Outputs are already allocated with the
// shapes and dtypes the op's InferFn produced (also for unused optional
// outputs, so kernels may write every output unconditionally).
struct KernelContext {
  const Node& node;
  std::span<const Tensor* const> inputs;  // nullptr for an absent optional input
  std::span<Tensor* const> outputs;

  size_t input_count() const { return inputs.size(); }
  bool has_input(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  const Tensor& input(size_t i) const { return *inputs[i]; }
  Tensor& output(size_t i) const { return *outputs[i]; }

  template <typename... Args>
  Status error(const Args&... args) const { return invalid_argument(node.label(), args...); }
  template <typename... Args>
  Status unsupported_error(const Args&... args) const { return unsupported(node.label(), args...); }
};

// Computes outputs from inputs. May fail only on input *values* that make the
// op undefined (e.g. an out-of-range gather index); shapes were checked by the
// InferFn.
using RefKernelFn = Status (*)(KernelContext&);

struct OpImpl {
  InferFn infer = nullptr;
  RefKernelFn reference = nullptr;
};

class OpTable {
 public:
  void add(OpKind op, InferFn infer, RefKernelFn reference) {
    impls_[static_cast<size_t>(op)] = OpImpl{infer, reference};
  }
  const OpImpl& get(OpKind op) const { return impls_[static_cast<size_t>(op)]; }

 private:
  std::array<OpImpl, kOpKindCount> impls_{};
};

// The table of every op with a reference implementation, built once.
const OpTable& reference_op_table();

// One registration function per family (src/kernels/ref/<family>.cc).
void register_unary_ops(OpTable& table);
void register_binary_ops(OpTable& table);
void register_movement_ops(OpTable& table);
void register_indexing_ops(OpTable& table);
void register_reduce_ops(OpTable& table);
void register_nn_ops(OpTable& table);
void register_linalg_ops(OpTable& table);
void register_quant_ops(OpTable& table);
void register_rnn_ops(OpTable& table);
void register_vision_ops(OpTable& table);
void register_loss_ops(OpTable& table);

}  // namespace iskra
