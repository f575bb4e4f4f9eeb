#include "runtime/session.h"

#include <chrono>
#include <cstring>

#include "base/str_cat.h"

namespace iskra {

namespace {
double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// Bytes of the constants of `g` and of its subgraphs.
size_t constant_bytes(const Graph& g) {
  size_t bytes = 0;
  for (const Value& v : g.values)
    if (v.constant) bytes += v.constant->byte_size();
  for (const Node& n : g.nodes)
    for (const auto& [key, attr] : n.attrs)
      if (const auto* sub = std::get_if<std::shared_ptr<Graph>>(&attr); sub && *sub) bytes += constant_bytes(**sub);
  return bytes;
}

IoInfo io_info(const Value& v) {
  IoInfo info{v.name, v.dtype, {}, v.shape.has_value()};
  if (v.shape) info.shape = *v.shape;
  return info;
}
}  // namespace

Result<std::unique_ptr<Session>> Session::create(Model model, SessionOptions options) {
  if (!model.graph) return invalid_argument("no graph to run");
  if (options.threads < 1 || options.threads > 1024)
    return invalid_argument("threads must be in 1..1024, got ", options.threads);
  ISKRA_RETURN_IF_ERROR(verify_graph(*model.graph));
  std::unique_ptr<Session> session(new Session());
  if (options.optimize && !options.reference_kernels) {
    // Passes rewrite the graph: work on a copy the caller does not share
    // (tensors are shared views, so this copies no weights).
    const auto start = std::chrono::steady_clock::now();
    model.graph = std::make_shared<Graph>(*model.graph);
    ISKRA_ASSIGN_OR_RETURN(session->pass_stats_, optimize_graph(*model.graph, PassOptions{options.channels_last}));
    session->timings_.passes_ms = ms_since(start);
  }
  session->model_ = std::move(model);
  session->options_ = options;
  const Graph& g = *session->model_.graph;
  if (options.memory_limit_bytes) {
    session->budget_ = std::make_unique<MemoryBudget>(options.memory_limit_bytes);
    ISKRA_RETURN_IF_ERROR(session->budget_->reserve(constant_bytes(g), [] { return "the model's constants"; }));
  }
  for (int id : g.inputs) session->inputs_.push_back(io_info(g.value(id)));
  for (int id : g.outputs) session->outputs_.push_back(io_info(g.value(id)));
  if (options.threads > 1) session->pool_ = std::make_unique<ThreadPool>(options.threads);
  const OpTable& ops = options.reference_kernels ? reference_op_table() : default_op_table();
  ISKRA_ASSIGN_OR_RETURN(session->executor_, GraphExecutor::create(g, ops, session->pool_.get(), session->budget_.get()));
  const auto plan_start = std::chrono::steady_clock::now();
  ISKRA_RETURN_IF_ERROR(session->plan_for_declared_shapes());
  session->timings_.plan_ms = ms_since(plan_start);
  return session;
}

// When every input's dtype and shape are fixed by the model, plan now: the
// weights are packed while loading, and the first run is as fast as the rest.
Status Session::plan_for_declared_shapes() {
  std::vector<Tensor> shapes;
  for (const IoInfo& info : inputs_) {
    if (info.dtype == DType::kUndefined || !info.has_shape) return Status::ok();
    Shape shape;
    for (const Dim& d : info.shape) {
      if (!d.is_known()) return Status::ok();
      shape.push_back(d.size);
    }
    ISKRA_RETURN_IF_ERROR(validate_shape(info.dtype, shape, "input '" + info.name + "'"));
    shapes.push_back(Tensor::view(info.dtype, std::move(shape), nullptr));
  }
  return executor_->plan(shapes);
}

Status Session::run(std::span<const Tensor> inputs, std::vector<Tensor>& outputs) {
  if (running_.exchange(true, std::memory_order_acquire))
    return invalid_argument(
        "the session is already running a call on another thread: a session runs one call at a time "
        "(use one session, or one iskra_model, per thread)");
  struct Release {  // also when an exception (std::bad_alloc) leaves run_exclusive
    std::atomic<bool>& running;
    ~Release() { running.store(false, std::memory_order_release); }
  } release{running_};
  return run_exclusive(inputs, outputs);
}

Status Session::run_exclusive(std::span<const Tensor> inputs, std::vector<Tensor>& outputs) {
  if (inputs.size() != inputs_.size())
    return invalid_argument("the model has ", inputs_.size(), " inputs, ", inputs.size(), " were given");
  for (size_t i = 0; i < inputs.size(); ++i) {
    const IoInfo& info = inputs_[i];
    const Tensor& t = inputs[i];
    if (!t.has_data() && t.element_count() != 0)
      return invalid_argument("input '", info.name, "' has no data");
    if (info.dtype != DType::kUndefined && t.dtype() != info.dtype)
      return invalid_argument("input '", info.name, "' must be ", dtype_name(info.dtype), ", got ",
                              dtype_name(t.dtype()));
    // An empty `what` keeps the steady-state path free of string building.
    if (Status st = validate_shape(t.dtype(), t.shape(), {}); !st)
      return Status(st.code(), str_cat("input '", info.name, "'", st.message()));
    if (info.has_shape) {
      bool ok = info.shape.size() == t.shape().size();
      for (size_t d = 0; ok && d < info.shape.size(); ++d)
        if (info.shape[d].is_known() && info.shape[d].size != t.shape()[d]) ok = false;
      if (!ok)
        return invalid_argument("input '", info.name, "' must have shape ", symbolic_shape_to_string(info.shape),
                                ", got ", shape_to_string(t.shape()));
    }
  }
  ISKRA_RETURN_IF_ERROR(executor_->run(inputs, views_));
  // Outputs the caller passed back with the same dtype and shape are written
  // in place (a steady-state loop allocates nothing); others are new copies.
  outputs.resize(views_.size());
  for (size_t o = 0; o < views_.size(); ++o) {
    const Tensor& v = views_[o];
    Tensor& out = outputs[o];
    if (out.has_data() && out.dtype() == v.dtype() && out.shape() == v.shape() && out.raw_data() != v.raw_data()) {
      if (v.byte_size() > 0) std::memcpy(out.raw_data(), v.raw_data(), v.byte_size());
      continue;
    }
    ISKRA_ASSIGN_OR_RETURN(out, v.clone());
  }
  return Status::ok();
}

}  // namespace iskra
