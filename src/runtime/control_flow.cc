// If, Loop and Scan: ops whose semantics is to run a subgraph.
#include <algorithm>
#include <cstring>

#include "runtime/executor.h"

namespace iskra {

namespace {

GraphExecutor* find_body(const ControlFlowContext& ctx, const std::string& key) {
  for (const auto& [name, exec] : ctx.subgraphs)
    if (name == key) return exec.get();
  return nullptr;
}

// Appends the node's capture inputs after `formal` as the subgraph expects.
std::vector<Tensor> with_captures(const ControlFlowContext& ctx, std::vector<Tensor> formal) {
  const size_t first = first_capture_input(ctx.node);
  for (size_t k = 0; k < ctx.node.capture_count; ++k) {
    const Tensor* t = ctx.inputs[first + k];
    formal.push_back(t ? *t : Tensor{});
  }
  return formal;
}

Result<bool> scalar_bool(const Node& node, const Tensor& t, const char* what) {
  if (t.element_count() != 1) return invalid_argument(node.label(), what, " must hold one element, got ", t.describe());
  return tensor_int_at(t, 0) != 0;
}

// Copies tensors out of a subgraph arena (which the next run reuses).
Status clone_all(const std::vector<Tensor>& in, std::vector<Tensor>& out) {
  out.clear();
  for (const Tensor& t : in) {
    ISKRA_ASSIGN_OR_RETURN(Tensor c, t.clone());
    out.push_back(std::move(c));
  }
  return Status::ok();
}

// Stacks equally shaped tensors along a new axis `axis` (0..rank).
Result<Tensor> stack(const Node& node, const std::vector<Tensor>& parts, int axis, DType dtype,
                     const Shape& fallback_element_shape) {
  Shape element = parts.empty() ? fallback_element_shape : parts[0].shape();
  for (const Tensor& p : parts)
    if (p.shape() != element || p.dtype() != dtype)
      return invalid_argument(node.label(), "scan output changes shape or dtype between iterations: ",
                              parts[0].describe(), " vs ", p.describe());
  Shape shape = element;
  shape.insert(shape.begin() + axis, static_cast<int64_t>(parts.size()));
  ISKRA_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(dtype, shape));
  const size_t elem = dtype_size(dtype);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= element[static_cast<size_t>(i)];
  for (size_t i = static_cast<size_t>(axis); i < element.size(); ++i) inner *= element[i];
  auto* dst = static_cast<std::byte*>(out.raw_data());
  for (size_t p = 0; p < parts.size(); ++p) {
    const auto* src = static_cast<const std::byte*>(parts[p].raw_data());
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(dst + ((o * static_cast<int64_t>(parts.size()) + static_cast<int64_t>(p)) * inner) * elem,
                  src + o * inner * elem, static_cast<size_t>(inner) * elem);
  }
  return out;
}

// Extracts slice `index` along `axis` of `t` (dropping that axis).
Result<Tensor> take_slice(const Tensor& t, int axis, int64_t index) {
  Shape shape = t.shape();
  const int64_t count = shape[static_cast<size_t>(axis)];
  shape.erase(shape.begin() + axis);
  ISKRA_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(t.dtype(), shape));
  const size_t elem = dtype_size(t.dtype());
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= t.dim(i);
  for (int i = axis + 1; i < t.rank(); ++i) inner *= t.dim(i);
  const auto* src = static_cast<const std::byte*>(t.raw_data());
  auto* dst = static_cast<std::byte*>(out.raw_data());
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(dst + o * inner * elem, src + ((o * count + index) * inner) * elem, static_cast<size_t>(inner) * elem);
  return out;
}

Status run_if(const ControlFlowContext& ctx, std::vector<Tensor>& outputs) {
  const Node& node = ctx.node;
  if (!ctx.inputs[0]) return invalid_argument(node.label(), "missing condition input");
  ISKRA_ASSIGN_OR_RETURN(bool cond, scalar_bool(node, *ctx.inputs[0], "condition"));
  GraphExecutor* branch = find_body(ctx, cond ? "then_branch" : "else_branch");
  if (!branch) return invalid_model(node.label(), "missing branch subgraph");
  std::vector<Tensor> results;
  ISKRA_RETURN_IF_ERROR(branch->run(with_captures(ctx, {}), results));
  if (results.size() != node.outputs.size())
    return invalid_model(node.label(), "branch produces ", results.size(), " outputs, node has ",
                         node.outputs.size());
  return clone_all(results, outputs);
}

Status run_loop(const ControlFlowContext& ctx, std::vector<Tensor>& outputs) {
  const Node& node = ctx.node;
  GraphExecutor* body = find_body(ctx, "body");
  if (!body) return invalid_model(node.label(), "missing body subgraph");
  const size_t official = first_capture_input(node);
  if (official < 2) return invalid_model(node.label(), "Loop needs at least the M and cond inputs");
  const size_t carried = official - 2;
  const size_t body_outputs = body->graph().outputs.size();
  if (body_outputs < 1 + carried) return invalid_model(node.label(), "body has too few outputs");
  const size_t scans = body_outputs - 1 - carried;
  if (node.outputs.size() != carried + scans)
    return invalid_model(node.label(), "node has ", node.outputs.size(), " outputs, body implies ", carried + scans);

  int64_t max_trips = INT64_MAX;
  if (ctx.inputs[0]) max_trips = tensor_int_at(*ctx.inputs[0], 0);
  bool cond = true;
  if (ctx.inputs[1]) { ISKRA_ASSIGN_OR_RETURN(cond, scalar_bool(node, *ctx.inputs[1], "cond")); }

  std::vector<Tensor> state;
  for (size_t i = 0; i < carried; ++i) {
    if (!ctx.inputs[2 + i]) return invalid_argument(node.label(), "missing loop-carried input ", i);
    state.push_back(*ctx.inputs[2 + i]);
  }
  std::vector<std::vector<Tensor>> scan_parts(scans);
  constexpr int64_t kMaxIterationsWithoutBound = int64_t{1} << 31;
  for (int64_t iter = 0; iter < max_trips && cond; ++iter) {
    if (iter >= kMaxIterationsWithoutBound)
      return invalid_argument(node.label(), "loop exceeded ", kMaxIterationsWithoutBound, " iterations");
    ISKRA_ASSIGN_OR_RETURN(Tensor iter_t, Tensor::from_vector<int64_t>({}, {iter}));
    ISKRA_ASSIGN_OR_RETURN(Tensor cond_t, Tensor::from_vector<bool>({}, {cond}));
    std::vector<Tensor> formal = {iter_t, cond_t};
    formal.insert(formal.end(), state.begin(), state.end());
    std::vector<Tensor> results;
    ISKRA_RETURN_IF_ERROR(body->run(with_captures(ctx, std::move(formal)), results));
    std::vector<Tensor> copied;
    ISKRA_RETURN_IF_ERROR(clone_all(results, copied));
    ISKRA_ASSIGN_OR_RETURN(cond, scalar_bool(node, copied[0], "body condition output"));
    for (size_t i = 0; i < carried; ++i) state[i] = copied[1 + i];
    for (size_t k = 0; k < scans; ++k) scan_parts[k].push_back(copied[1 + carried + k]);
  }
  outputs.clear();
  for (size_t i = 0; i < carried; ++i) {
    ISKRA_ASSIGN_OR_RETURN(Tensor c, state[i].clone());
    outputs.push_back(std::move(c));
  }
  const Graph& bg = body->graph();
  for (size_t k = 0; k < scans; ++k) {
    const Value& v = bg.value(bg.outputs[1 + carried + k]);
    ISKRA_ASSIGN_OR_RETURN(Tensor stacked, stack(node, scan_parts[k], 0,
                                                 scan_parts[k].empty() ? v.dtype : scan_parts[k][0].dtype(), {}));
    outputs.push_back(std::move(stacked));
  }
  return Status::ok();
}

Status run_scan(const ControlFlowContext& ctx, std::vector<Tensor>& outputs) {
  const Node& node = ctx.node;
  GraphExecutor* body = find_body(ctx, "body");
  if (!body) return invalid_model(node.label(), "missing body subgraph");
  const size_t official = first_capture_input(node);
  const int64_t scan_inputs = node.attr_int("num_scan_inputs", -1);
  if (scan_inputs < 0 || static_cast<size_t>(scan_inputs) > official)
    return invalid_model(node.label(), "bad num_scan_inputs");
  const size_t m = static_cast<size_t>(scan_inputs);
  const size_t n_state = official - m;
  const size_t body_outputs = body->graph().outputs.size();
  if (body_outputs < n_state) return invalid_model(node.label(), "body has too few outputs");
  const size_t k_out = body_outputs - n_state;
  auto in_axes = node.attr_ints("scan_input_axes", std::vector<int64_t>(m, 0));
  auto in_dirs = node.attr_ints("scan_input_directions", std::vector<int64_t>(m, 0));
  auto out_axes = node.attr_ints("scan_output_axes", std::vector<int64_t>(k_out, 0));
  auto out_dirs = node.attr_ints("scan_output_directions", std::vector<int64_t>(k_out, 0));
  if (in_axes.size() != m || in_dirs.size() != m || out_axes.size() != k_out || out_dirs.size() != k_out)
    return invalid_model(node.label(), "scan axes/directions attribute lengths do not match");

  std::vector<Tensor> state;
  for (size_t i = 0; i < n_state; ++i) {
    if (!ctx.inputs[i]) return invalid_argument(node.label(), "missing state input ", i);
    state.push_back(*ctx.inputs[i]);
  }
  int64_t length = -1;
  std::vector<int> axes(m);
  for (size_t j = 0; j < m; ++j) {
    const Tensor* t = ctx.inputs[n_state + j];
    if (!t) return invalid_argument(node.label(), "missing scan input ", j);
    int64_t a = in_axes[j] < 0 ? in_axes[j] + t->rank() : in_axes[j];
    if (a < 0 || a >= t->rank()) return invalid_model(node.label(), "scan_input_axes out of range");
    axes[j] = static_cast<int>(a);
    if (length >= 0 && t->dim(axes[j]) != length)
      return invalid_argument(node.label(), "scan inputs disagree on sequence length");
    length = t->dim(axes[j]);
  }
  if (length < 0) length = 0;
  std::vector<std::vector<Tensor>> parts(k_out);
  for (int64_t it = 0; it < length; ++it) {
    std::vector<Tensor> formal = state;
    for (size_t j = 0; j < m; ++j) {
      int64_t idx = in_dirs[j] ? length - 1 - it : it;
      ISKRA_ASSIGN_OR_RETURN(Tensor s, take_slice(*ctx.inputs[n_state + j], axes[j], idx));
      formal.push_back(std::move(s));
    }
    std::vector<Tensor> results, copied;
    ISKRA_RETURN_IF_ERROR(body->run(with_captures(ctx, std::move(formal)), results));
    ISKRA_RETURN_IF_ERROR(clone_all(results, copied));
    for (size_t i = 0; i < n_state; ++i) state[i] = copied[i];
    for (size_t k = 0; k < k_out; ++k) parts[k].push_back(copied[n_state + k]);
  }
  outputs = state;
  for (size_t k = 0; k < k_out; ++k) {
    if (out_dirs[k]) std::reverse(parts[k].begin(), parts[k].end());
    const int rank = parts[k].empty() ? 0 : parts[k][0].rank();
    int64_t a = out_axes[k] < 0 ? out_axes[k] + rank + 1 : out_axes[k];
    if (a < 0 || a > rank) return invalid_model(node.label(), "scan_output_axes out of range");
    const Graph& bg = body->graph();
    DType dt = parts[k].empty() ? bg.value(bg.outputs[n_state + k]).dtype : parts[k][0].dtype();
    ISKRA_ASSIGN_OR_RETURN(Tensor stacked, stack(node, parts[k], static_cast<int>(a), dt, {}));
    outputs.push_back(std::move(stacked));
  }
  return Status::ok();
}

}  // namespace

Status run_control_flow(const ControlFlowContext& ctx, std::vector<Tensor>& outputs) {
  switch (ctx.node.op) {
    case OpKind::If: return run_if(ctx, outputs);
    case OpKind::Loop: return run_loop(ctx, outputs);
    case OpKind::Scan: return run_scan(ctx, outputs);
    default: return internal_error(ctx.node.label(), "not a control-flow op");
  }
}

}  // namespace iskra
