// The op table: for each IR op, its shape function, its reference kernel and
// optionally a fast CPU kernel.
//
// Reference kernels are scalar and simple: they are the oracle every optimized
// kernel is diffed against, and the fallback for any op or case without one.
// Fast kernels are *prepared* per node when the executor plans for concrete
// shapes: the prepare step may pack constant weights and pick a strategy, and
// returns nullptr for cases it does not handle (the reference kernel runs).
// Registration is explicit (register_*_ops / register_cpu_* below), never by
// static initializers, so nothing is dropped by the linker.
#pragma once

#include <array>
#include <memory>
#include <span>

#include "base/status.h"
#include "ir/graph.h"
#include "ir/infer.h"
#include "ir/tensor.h"

namespace iskra {

class ThreadPool;

// What a kernel sees when it runs. Outputs are already allocated with the
// shapes and dtypes the op's InferFn produced (also for unused optional
// outputs, so kernels may write every output unconditionally).
struct KernelContext {
  const Node& node;
  std::span<const Tensor* const> inputs;  // nullptr for an absent optional input
  std::span<Tensor* const> outputs;
  ThreadPool* pool = nullptr;  // the session's threads; nullptr = run on the calling thread only

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

// A fast kernel specialized for one node and one set of input shapes.
class PreparedKernel {
 public:
  virtual ~PreparedKernel() = default;
  virtual Status run(KernelContext& ctx) = 0;
};

// What a prepare step sees: the node, its inputs' dtypes and shapes (every
// input tensor has them; `data()` is non-null only for values known at plan
// time: initializers and folded constants), and the inferred outputs.
struct PrepareContext {
  const Node& node;
  std::span<const Tensor* const> inputs;  // nullptr for an absent optional input
  std::span<const TensorType> outputs;
  int threads = 1;  // size of the pool the kernel will run with

  bool has_input(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  const Tensor& input(size_t i) const { return *inputs[i]; }
  bool is_constant(size_t i) const { return has_input(i) && inputs[i]->has_data(); }
};

// Returns a prepared kernel, or nullptr when this case is not handled by the
// fast path (then the reference kernel runs). Errors are real errors.
using PrepareFn = Result<std::unique_ptr<PreparedKernel>> (*)(const PrepareContext&);

struct OpImpl {
  InferFn infer = nullptr;
  RefKernelFn reference = nullptr;
  PrepareFn prepare = nullptr;  // fast CPU kernel, if any
};

class OpTable {
 public:
  void add(OpKind op, InferFn infer, RefKernelFn reference) {
    OpImpl& impl = impls_[static_cast<size_t>(op)];
    impl.infer = infer;
    impl.reference = reference;
  }
  void set_prepare(OpKind op, PrepareFn prepare) { impls_[static_cast<size_t>(op)].prepare = prepare; }
  const OpImpl& get(OpKind op) const { return impls_[static_cast<size_t>(op)]; }

 private:
  std::array<OpImpl, kOpKindCount> impls_{};
};

// The table of every op with a reference implementation only, built once:
// the oracle (`--reference` in the CLI, kernel tests).
const OpTable& reference_op_table();
// The reference table plus the fast CPU kernels: what sessions use by default.
const OpTable& default_op_table();

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
void register_fused_ops(OpTable& table);          // internal ops made by graph passes
void register_channels_last_ops(OpTable& table);  // internal NHWC ops of the layout pass

// Fast CPU kernels (src/kernels/cpu/), added to a table that already holds
// the reference entries.
void register_cpu_kernels(OpTable& table);

}  // namespace iskra
