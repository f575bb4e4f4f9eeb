// Session: a loaded model ready to run. load → verify → plan → run; the plan
// is remade whenever input shapes change.
#pragma once

#include <atomic>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/model.h"
#include "base/thread_pool.h"
#include "passes/passes.h"
#include "runtime/executor.h"

namespace iskra {

struct SessionOptions {
  int threads = 1;               // threads of the session's pool, the caller's included
  bool optimize = true;          // graph passes (folding, fusion) before planning
  bool channels_last = true;     // with optimize: 2-D convs, pools and their neighbours run in NHWC
  bool reference_kernels = false;  // only the scalar reference kernels (the oracle); implies no passes
  // Most bytes of tensors the session may hold: constants, folded values, the
  // arena and run-time buffers (see runtime/memory_budget.h); 0: no limit.
  // A load or run that would pass it fails before allocating, naming the node.
  size_t memory_limit_bytes = 0;
};

// Where Session::create spent its time, for `iskra bench`.
struct SessionTimings {
  double passes_ms = 0;  // graph passes (folding, fusion, layout)
  double plan_ms = 0;    // planning at load (shape inference, fast-kernel preparation and weight packing, arena)
};

struct IoInfo {
  std::string name;
  DType dtype = DType::kUndefined;
  SymbolicShape shape;  // as declared by the model; empty with has_shape false if unknown
  bool has_shape = false;
};

class Session {
 public:
  static Result<std::unique_ptr<Session>> create(Model model, SessionOptions options = {});

  const std::vector<IoInfo>& inputs() const { return inputs_; }
  const std::vector<IoInfo>& outputs() const { return outputs_; }
  const Model& model() const { return model_; }
  const SessionOptions& options() const { return options_; }
  size_t arena_bytes() const { return executor_->arena_bytes(); }
  size_t dynamic_node_count() const { return executor_->dynamic_node_count(); }
  size_t fast_node_count() const { return executor_->fast_node_count(); }
  // The graph that runs (after passes); profiling timings index its nodes.
  const Graph& graph() const { return *model_.graph; }
  // What the graph passes changed (all zero when they did not run).
  const PassStats& pass_stats() const { return pass_stats_; }
  const SessionTimings& timings() const { return timings_; }
  // Dtype and shape of each value of graph() in the current plan (after a run).
  const std::vector<Tensor>& planned_values() const { return executor_->planned_values(); }
  // Per-node timings of the main graph since profiling was turned on.
  void set_profiling(bool on) { executor_->set_profiling(on); }
  const std::vector<NodeTiming>& node_timings() const { return executor_->node_timings(); }

  // Runs with inputs in the order of inputs(); checks their dtypes and shapes
  // against the declared ones. Outputs are tensors owned by the caller: those
  // already in `outputs` with the right dtype and shape are overwritten in
  // place (so a loop that passes the same vector allocates nothing), the
  // others are replaced by new tensors.
  //
  // One call at a time: a call made while another thread is running this
  // session fails with an error saying so (the arena and the output views are
  // the session's own). Separate sessions, even of one model, run in parallel.
  Status run(std::span<const Tensor> inputs, std::vector<Tensor>& outputs);

 private:
  Session() = default;
  Status run_exclusive(std::span<const Tensor> inputs, std::vector<Tensor>& outputs);
  Status plan_for_declared_shapes();

  Model model_;
  SessionOptions options_;
  std::unique_ptr<MemoryBudget> budget_;  // before executor_: outlives it
  PassStats pass_stats_;
  SessionTimings timings_;
  std::vector<IoInfo> inputs_, outputs_;
  std::unique_ptr<ThreadPool> pool_;  // declared before executor_: outlives it
  std::unique_ptr<GraphExecutor> executor_;
  std::vector<Tensor> views_;  // the executor's output views of the last run
  std::atomic<bool> running_{false};
};

}  // namespace iskra
