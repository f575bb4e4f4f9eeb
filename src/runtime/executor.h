// GraphExecutor: runs one Graph (a model's main graph or a subgraph body).
//
// plan (whenever input shapes or dtypes change):
//   walk the nodes in order with concrete input shapes, calling each op's
//   InferFn; nodes whose inputs are all known values are evaluated right away
//   (plan-time constant folding, which also resolves Shape→Gather→Reshape
//   chains); nodes whose output shape needs a value not known until run time
//   are marked dynamic. The remaining (static) nodes get their fast kernel
//   prepared (weights packed) where the op has one, and their outputs get
//   offsets in one arena planned from their lifetimes.
// run:
//   bind inputs, then walk the nodes: static nodes write into the arena;
//   dynamic nodes infer their shapes from the actual inputs and write into
//   buffers of their own; control-flow nodes run their subgraphs.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "kernels/kernel.h"
#include "runtime/memory_budget.h"

namespace iskra {

// Time spent in one node over the runs since profiling was enabled.
struct NodeTiming {
  int64_t total_ns = 0;
  int64_t runs = 0;
  bool fast_kernel = false;  // a prepared fast kernel ran (else the reference kernel or control flow)
};

class GraphExecutor {
 public:
  // Checks that every node has an implementation; creates subgraph executors.
  // `pool` (may be null) is lent to the kernels; `budget` (may be null: no
  // limit) is charged for folded values, the arena and run-time buffers. Both
  // must outlive the executor.
  static Result<std::unique_ptr<GraphExecutor>> create(const Graph& graph, const OpTable& ops,
                                                       ThreadPool* pool = nullptr, MemoryBudget* budget = nullptr);

  ~GraphExecutor() {
    if (budget_) budget_->release(plan_charged_ + run_charged_);
  }
  GraphExecutor(const GraphExecutor&) = delete;
  GraphExecutor& operator=(const GraphExecutor&) = delete;

  // `inputs` holds the graph's formal inputs, then its captures (in
  // graph.captures order; entries for kNoValue captures are ignored).
  // On success `outputs` holds views that stay valid until the next run.
  Status run(std::span<const Tensor> inputs, std::vector<Tensor>& outputs);
  // Plans for inputs of these dtypes and shapes (their data is not read), so
  // that the first run with them does not: shape inference, folding, weight
  // packing, arena. A later run with other shapes plans again.
  Status plan(std::span<const Tensor> inputs);

  const Graph& graph() const { return graph_; }
  size_t arena_bytes() const { return plan_.arena_bytes; }
  // Nodes of the current plan that infer and allocate at run time.
  size_t dynamic_node_count() const;
  // Nodes of the current plan that run a prepared fast kernel.
  size_t fast_node_count() const;

  // Per value of graph(): its tensor in the current plan (dtype and shape of
  // every static value; data only for constants and folded values).
  const std::vector<Tensor>& planned_values() const { return plan_.slots; }

  // Per-node timings of this graph (not of subgraphs), indexed like
  // graph().nodes; empty unless profiling is on. Turning it on clears them.
  void set_profiling(bool on);
  const std::vector<NodeTiming>& node_timings() const { return timings_; }

 private:
  enum class NodeMode : uint8_t { kStatic, kFolded, kDynamic };

  struct Plan {
    bool valid = false;
    std::vector<DType> input_dtypes;
    std::vector<Shape> input_shapes;
    std::vector<Tensor> slots;  // per value: constants, folded values, arena views
    std::vector<NodeMode> modes;
    // Per node, arena room for outputs the graph does not use (kNoValue),
    // which kernels still write; empty tensors at used positions.
    std::vector<std::vector<Tensor>> unused_outputs;
    std::vector<std::unique_ptr<PreparedKernel>> prepared;  // per node; null = reference kernel
    std::shared_ptr<void> arena;
    size_t arena_bytes = 0;
  };

  GraphExecutor(const Graph& graph, const OpTable& ops, ThreadPool* pool, MemoryBudget* budget)
      : graph_(graph), ops_(ops), pool_(pool), budget_(budget) {}
  // Allocates owned tensors for a node's inferred output types, charging them to
  // the budget (to `charged`) first.
  Status allocate_outputs(const Node& node, const std::vector<TensorType>& types, std::vector<Tensor>& out,
                          size_t& charged);
  Status make_plan(std::span<const Tensor> inputs);
  Status run_node(size_t index);
  void bind_run_slots();
  std::vector<int> bound_input_values() const;  // formal inputs then captures

  const Graph& graph_;
  const OpTable& ops_;
  ThreadPool* pool_ = nullptr;
  MemoryBudget* budget_ = nullptr;
  size_t plan_charged_ = 0;  // bytes the current plan holds in budget_ (folded values, arena)
  size_t run_charged_ = 0;   // bytes the last run's dynamic nodes hold in budget_
  bool profiling_ = false;
  std::vector<NodeTiming> timings_;
  // Subgraph executors per node, keyed like node.attrs ("then_branch", "body"...).
  std::vector<std::vector<std::pair<std::string, std::unique_ptr<GraphExecutor>>>> subgraphs_;
  Plan plan_;
  std::vector<int> bound_;          // bound_input_values(), computed once
  std::vector<Tensor> run_slots_;   // per value: what the current run sees (see bind_run_slots)
  std::vector<std::vector<const Tensor*>> node_inputs_;  // per node: pointers into run_slots_
  std::vector<std::vector<Tensor*>> node_outputs_;
};

// Runs a control-flow node (If, Loop, Scan); implemented in control_flow.cc.
// `subgraphs` are the node's body executors; outputs are newly allocated.
struct ControlFlowContext {
  const Node& node;
  std::span<const Tensor* const> inputs;
  std::span<const std::pair<std::string, std::unique_ptr<GraphExecutor>>> subgraphs;
};
Status run_control_flow(const ControlFlowContext& ctx, std::vector<Tensor>& outputs);
bool is_control_flow(OpKind op);

}  // namespace iskra
