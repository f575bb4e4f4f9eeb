#include "runtime/executor.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

#include "base/str_cat.h"
#include "base/thread_pool.h"
#include "runtime/planner.h"

namespace iskra {

namespace {

bool is_foldable(OpKind op) {
  switch (op) {
    case OpKind::If: case OpKind::Loop: case OpKind::Scan:
    case OpKind::Bernoulli: case OpKind::RandomNormal: case OpKind::RandomNormalLike:
    case OpKind::RandomUniform: case OpKind::RandomUniformLike:
      return false;
    default:
      return true;
  }
}

// Ops whose outputs depend only on their inputs' shapes, never their data:
// they fold as soon as shapes are known (Shape of a graph input at plan time).
bool reads_only_shapes(OpKind op) { return op == OpKind::Shape || op == OpKind::Size; }

}  // namespace

Status GraphExecutor::allocate_outputs(const Node& node, const std::vector<TensorType>& types,
                                       std::vector<Tensor>& out, size_t& charged) {
  out.resize(types.size());
  for (size_t i = 0; i < types.size(); ++i) {
    if (types[i].dtype == DType::kUndefined)
      return internal_error(node.label(), "shape inference left output ", i, " undefined");
    if (budget_) {
      ISKRA_RETURN_IF_ERROR(validate_shape(types[i].dtype, types[i].shape, node.label() + "output"));
      const size_t bytes = static_cast<size_t>(shape_element_count(types[i].shape)) * dtype_size(types[i].dtype);
      ISKRA_RETURN_IF_ERROR(budget_->reserve(bytes, [&] {
        return str_cat(node.label(), "output ", i, " (", dtype_name(types[i].dtype), " ",
                       shape_to_string(types[i].shape), ")");
      }));
      charged += bytes;
    }
    auto t = Tensor::allocate(types[i].dtype, types[i].shape);
    if (!t) return t.status().with_context(node.label() + "output " + std::to_string(i) + ": ");
    out[i] = std::move(t).value();
  }
  return Status::ok();
}

bool is_control_flow(OpKind op) { return op == OpKind::If || op == OpKind::Loop || op == OpKind::Scan; }

Result<std::unique_ptr<GraphExecutor>> GraphExecutor::create(const Graph& graph, const OpTable& ops,
                                                             ThreadPool* pool, MemoryBudget* budget) {
  std::unique_ptr<GraphExecutor> exec(new GraphExecutor(graph, ops, pool, budget));
  exec->bound_ = exec->bound_input_values();
  exec->subgraphs_.resize(graph.nodes.size());
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& node = graph.nodes[n];
    if (is_control_flow(node.op)) {
      for (const auto& [key, attr] : node.attrs) {
        auto* sub = std::get_if<std::shared_ptr<Graph>>(&attr);
        if (!sub) continue;
        auto child = create(**sub, ops, pool, budget);
        if (!child) return child.status().with_context(node.label() + "in '" + key + "': ");
        exec->subgraphs_[n].emplace_back(key, std::move(child).value());
      }
      continue;
    }
    const OpImpl& impl = ops.get(node.op);
    if (!impl.infer || !impl.reference)
      return unsupported(node.label(), "op ", op_name(node.op), " has no CPU implementation yet");
  }
  return exec;
}

std::vector<int> GraphExecutor::bound_input_values() const {
  std::vector<int> ids = graph_.inputs;
  ids.insert(ids.end(), graph_.captures.begin(), graph_.captures.end());
  return ids;
}

Status GraphExecutor::make_plan(std::span<const Tensor> inputs) {
  const Graph& g = graph_;
  // The new plan's memory is charged while the old plan still holds its own;
  // a failed plan gives its charge back.
  struct PendingCharge {
    MemoryBudget* budget;
    size_t bytes = 0;
    ~PendingCharge() {
      if (budget) budget->release(bytes);
    }
  } pending{budget_};
  Plan plan;
  plan.slots.assign(g.values.size(), Tensor{});
  plan.modes.assign(g.nodes.size(), NodeMode::kStatic);
  plan.unused_outputs.resize(g.nodes.size());
  plan.prepared.resize(g.nodes.size());
  std::vector<bool> known(g.values.size(), false);        // dtype and shape known
  std::vector<bool> has_value(g.values.size(), false);    // data known at plan time
  for (size_t v = 0; v < g.values.size(); ++v) {
    if (g.values[v].constant) {
      plan.slots[v] = *g.values[v].constant;
      known[v] = has_value[v] = true;
    }
  }
  const std::vector<int> bound = bound_input_values();
  for (size_t i = 0; i < bound.size(); ++i) {
    if (bound[i] == kNoValue) continue;
    plan.input_dtypes.push_back(inputs[i].dtype());
    plan.input_shapes.push_back(inputs[i].shape());
    plan.slots[static_cast<size_t>(bound[i])] = Tensor::view(inputs[i].dtype(), inputs[i].shape(), nullptr);
    known[static_cast<size_t>(bound[i])] = true;
  }

  // Shape propagation with plan-time folding.
  std::vector<const Tensor*> in_ptrs;
  std::vector<TensorType> out_types;
  std::vector<Tensor> folded;
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    const Node& node = g.nodes[n];
    bool inputs_known = true, all_values = true;
    in_ptrs.assign(node.inputs.size(), nullptr);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      int id = node.inputs[i];
      if (id == kNoValue) continue;
      if (!known[static_cast<size_t>(id)]) inputs_known = false;
      if (!has_value[static_cast<size_t>(id)]) all_values = false;
      in_ptrs[i] = &plan.slots[static_cast<size_t>(id)];
    }
    if (!inputs_known || is_control_flow(node.op)) {
      plan.modes[n] = NodeMode::kDynamic;
      continue;
    }
    InferContext ictx(node, in_ptrs, out_types);
    Status st = ops_.get(node.op).infer(ictx);
    if (st.code() == StatusCode::kNeedsValue) {
      plan.modes[n] = NodeMode::kDynamic;
      continue;
    }
    ISKRA_RETURN_IF_ERROR(st);
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      int id = node.outputs[o];
      ISKRA_RETURN_IF_ERROR(validate_shape(out_types[o].dtype, out_types[o].shape,
                                           node.label() + "output " + std::to_string(o)));
      if (budget_) {  // a value over the whole limit: refused before its kernel is prepared
        const Tensor shape_only = Tensor::view(out_types[o].dtype, out_types[o].shape, nullptr);
        ISKRA_RETURN_IF_ERROR(budget_->check_fits_alone(
            shape_only.byte_size(), [&] { return str_cat(node.label(), "output ", o, " ", shape_only.describe()); }));
      }
      if (id == kNoValue) {
        plan.unused_outputs[n].resize(node.outputs.size());
        plan.unused_outputs[n][o] = Tensor::view(out_types[o].dtype, out_types[o].shape, nullptr);
        continue;
      }
      const Value& declared = g.value(id);
      if (declared.dtype != DType::kUndefined && declared.dtype != out_types[o].dtype)
        return invalid_model(node.label(), "output '", declared.name, "' is declared ", dtype_name(declared.dtype),
                             " but the op produces ", dtype_name(out_types[o].dtype));
      known[static_cast<size_t>(id)] = true;
      plan.slots[static_cast<size_t>(id)] = Tensor::view(out_types[o].dtype, out_types[o].shape, nullptr);
    }
    if ((all_values || reads_only_shapes(node.op)) && is_foldable(node.op)) {
      ISKRA_RETURN_IF_ERROR(allocate_outputs(node, out_types, folded, pending.bytes));
      std::vector<Tensor*> out_ptrs;
      for (Tensor& t : folded) out_ptrs.push_back(&t);
      KernelContext kctx{node, in_ptrs, out_ptrs};
      ISKRA_RETURN_IF_ERROR(ops_.get(node.op).reference(kctx));
      for (size_t o = 0; o < node.outputs.size(); ++o) {
        int id = node.outputs[o];
        if (id == kNoValue) continue;
        plan.slots[static_cast<size_t>(id)] = folded[o];
        has_value[static_cast<size_t>(id)] = true;
      }
      plan.modes[n] = NodeMode::kFolded;
    } else if (PrepareFn prepare = ops_.get(node.op).prepare) {
      // Non-constant inputs still have null data here, which is how the
      // prepare step tells weights from activations.
      PrepareContext pctx{node, in_ptrs, out_types, pool_ ? pool_->threads() : 1};
      auto kernel = prepare(pctx);
      if (!kernel) return kernel.status().with_context(node.label());
      plan.prepared[n] = std::move(kernel).value();
    }
  }

  // Lifetimes of arena values: produced by a static node, alive until the
  // last node that reads them (graph outputs: until the end).
  const int end_step = static_cast<int>(g.nodes.size());
  std::vector<int> last_use(g.values.size(), -1);
  for (size_t n = 0; n < g.nodes.size(); ++n)
    for (int id : g.nodes[n].inputs)
      if (id != kNoValue) last_use[static_cast<size_t>(id)] = static_cast<int>(n);
  for (int id : g.outputs) last_use[static_cast<size_t>(id)] = end_step;
  std::vector<BufferRequest> requests;
  std::vector<Tensor*> request_slots;  // the tensor each request gives memory to
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    if (plan.modes[n] != NodeMode::kStatic) continue;
    const int step = static_cast<int>(n);
    const std::vector<int>& outs = g.nodes[n].outputs;
    for (size_t o = 0; o < outs.size(); ++o) {
      const int id = outs[o];
      // An unused output lives only while its node runs.
      Tensor& t = id == kNoValue ? plan.unused_outputs[n][o] : plan.slots[static_cast<size_t>(id)];
      const int last = id == kNoValue ? step : std::max(last_use[static_cast<size_t>(id)], step);
      requests.push_back(BufferRequest{t.byte_size(), step, last});
      request_slots.push_back(&t);
    }
  }
  ArenaPlan arena = plan_arena(requests);
  plan.arena_bytes = arena.total_bytes;
  if (budget_ && !requests.empty()) {
    ISKRA_RETURN_IF_ERROR(budget_->reserve(arena.total_bytes, [&] {
      size_t largest = 0;  // named in the message: usually the one value that asks too much
      for (size_t r = 1; r < requests.size(); ++r)
        if (requests[r].bytes > requests[largest].bytes) largest = r;
      const Node& producer = g.nodes[static_cast<size_t>(requests[largest].first_use)];
      return str_cat("the arena of graph '", g.name, "' (its largest value: ", producer.label(),
                     request_slots[largest]->describe(), ")");
    }));
    pending.bytes += arena.total_bytes;
  }
  plan.arena = allocate_aligned(arena.total_bytes);
  if (!plan.arena) return out_of_memory("cannot allocate the ", arena.total_bytes, "-byte arena for graph '",
                                        g.name, "'");
  auto* base = static_cast<std::byte*>(plan.arena.get());
  for (size_t r = 0; r < requests.size(); ++r) {
    Tensor& slot = *request_slots[r];
    slot = Tensor::shared(slot.dtype(), slot.shape(), base + arena.offsets[r], plan.arena);
  }
  plan.valid = true;
  plan_ = std::move(plan);
  if (budget_) budget_->release(plan_charged_);
  plan_charged_ = std::exchange(pending.bytes, 0);
  bind_run_slots();
  return Status::ok();
}

// Run-time values live in run_slots_, a copy of the plan's slots that runs
// update in place: graph inputs are rebound and dynamic nodes store their
// outputs there. Each node's input/output pointers into it are made once.
void GraphExecutor::bind_run_slots() {
  run_slots_ = plan_.slots;
  const size_t count = graph_.nodes.size();
  node_inputs_.assign(count, {});
  node_outputs_.assign(count, {});
  for (size_t n = 0; n < count; ++n) {
    const Node& node = graph_.nodes[n];
    for (int id : node.inputs) node_inputs_[n].push_back(id == kNoValue ? nullptr : &run_slots_[static_cast<size_t>(id)]);
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      const int id = node.outputs[o];
      // Unused outputs have a placeholder only on static nodes (dynamic ones allocate theirs per run).
      std::vector<Tensor>& unused = plan_.unused_outputs[n];
      node_outputs_[n].push_back(id != kNoValue ? &run_slots_[static_cast<size_t>(id)]
                                 : o < unused.size() ? &unused[o]
                                                     : nullptr);
    }
  }
}

Status GraphExecutor::run_node(size_t n) {
  const Node& node = graph_.nodes[n];
  std::span<const Tensor* const> in_ptrs = node_inputs_[n];
  std::span<Tensor* const> out_ptrs = node_outputs_[n];
  if (plan_.modes[n] == NodeMode::kStatic) {
    // The steady-state path: no allocation.
    KernelContext kctx{node, in_ptrs, out_ptrs, pool_};
    PreparedKernel* fast = plan_.prepared[n].get();
    return fast ? fast->run(kctx) : ops_.get(node.op).reference(kctx);
  }
  std::vector<Tensor> dynamic_outputs;
  if (is_control_flow(node.op)) {
    ControlFlowContext cctx{node, in_ptrs, subgraphs_[n]};
    ISKRA_RETURN_IF_ERROR(run_control_flow(cctx, dynamic_outputs));
  } else {
    const OpImpl& impl = ops_.get(node.op);
    std::vector<TensorType> types;
    InferContext ictx(node, in_ptrs, types);
    ISKRA_RETURN_IF_ERROR(impl.infer(ictx));
    ISKRA_RETURN_IF_ERROR(allocate_outputs(node, types, dynamic_outputs, run_charged_));
    std::vector<Tensor*> outs(node.outputs.size(), nullptr);
    for (size_t o = 0; o < node.outputs.size(); ++o) outs[o] = &dynamic_outputs[o];
    KernelContext kctx{node, in_ptrs, outs, pool_};
    ISKRA_RETURN_IF_ERROR(impl.reference(kctx));
  }
  for (size_t o = 0; o < node.outputs.size() && o < dynamic_outputs.size(); ++o)
    if (node.outputs[o] != kNoValue) run_slots_[static_cast<size_t>(node.outputs[o])] = std::move(dynamic_outputs[o]);
  return Status::ok();
}

size_t GraphExecutor::fast_node_count() const {
  return static_cast<size_t>(std::count_if(plan_.prepared.begin(), plan_.prepared.end(),
                                           [](const auto& k) { return k != nullptr; }));
}

void GraphExecutor::set_profiling(bool on) {
  profiling_ = on;
  timings_.assign(on ? graph_.nodes.size() : 0, NodeTiming{});
}

size_t GraphExecutor::dynamic_node_count() const {
  return static_cast<size_t>(std::count(plan_.modes.begin(), plan_.modes.end(), NodeMode::kDynamic));
}

Status GraphExecutor::plan(std::span<const Tensor> inputs) {
  const std::vector<int>& bound = bound_;
  if (inputs.size() != bound.size())
    return internal_error("graph '", graph_.name, "' expects ", bound.size(), " bound inputs, got ", inputs.size());
  // Re-plan when any input dtype or shape differs from the current plan.
  bool replan = !plan_.valid;
  for (size_t i = 0, k = 0; i < bound.size() && !replan; ++i) {
    if (bound[i] == kNoValue) continue;
    replan = inputs[i].dtype() != plan_.input_dtypes[k] || inputs[i].shape() != plan_.input_shapes[k];
    ++k;
  }
  return replan ? make_plan(inputs) : Status::ok();
}

Status GraphExecutor::run(std::span<const Tensor> inputs, std::vector<Tensor>& outputs) {
  const std::vector<int>& bound = bound_;
  if (inputs.size() != bound.size())
    return internal_error("graph '", graph_.name, "' expects ", bound.size(), " bound inputs, got ", inputs.size());
  ISKRA_RETURN_IF_ERROR(plan(inputs));
  if (budget_) budget_->release(std::exchange(run_charged_, 0));  // this run replaces those buffers

  for (size_t i = 0; i < bound.size(); ++i)
    if (bound[i] != kNoValue) run_slots_[static_cast<size_t>(bound[i])] = inputs[i];
  for (size_t n = 0; n < graph_.nodes.size(); ++n) {
    if (plan_.modes[n] == NodeMode::kFolded) continue;
    if (!profiling_) {
      ISKRA_RETURN_IF_ERROR(run_node(n));
      continue;
    }
    const auto start = std::chrono::steady_clock::now();
    ISKRA_RETURN_IF_ERROR(run_node(n));
    NodeTiming& t = timings_[n];
    t.total_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
    t.runs += 1;
    t.fast_kernel = plan_.prepared[n] != nullptr;
  }
  outputs.resize(graph_.outputs.size());
  for (size_t o = 0; o < outputs.size(); ++o) outputs[o] = run_slots_[static_cast<size_t>(graph_.outputs[o])];
  return Status::ok();
}

}  // namespace iskra
