// Reference kernels and shape functions: reduce ops.
//
// All ten Reduce* ops share one infer function and one kernel. The kernel
// splits the input into "lanes": one lane per output element, holding the
// input elements that reduce into it (see Lanes). Each op is then a
// Reduction: an initial accumulator, an accumulate step and a finalize step,
// run over every lane by reduce_lanes(). Floats accumulate in double;
// integers in 64 bits with wrap-around (the result is then narrowed, which
// matches arithmetic wrapping in the element type); bool (ReduceMax/Min only)
// as 0/1.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/kernel.h"
#include "kernels/ref/common.h"

namespace iskra {
namespace {

using ref::convert_element;

// ---------------------------------------------------------------------------
// Which axes are reduced.

// Which input axes are reduced, from the axes input (nullptr when absent).
// Empty axes mean all axes, or none with noop_with_empty_axes=1: then every
// element is reduced alone, so composite ops still apply their elementwise
// steps (ReduceSumSquare squares, ReduceLogSum takes the log).
Result<std::vector<bool>> reduced_axes(const Node& node, int rank, const std::vector<int64_t>* axes) {
  if (axes == nullptr || axes->empty())
    return std::vector<bool>(static_cast<size_t>(rank), node.attr_int("noop_with_empty_axes", 0) == 0);
  std::vector<bool> reduced(static_cast<size_t>(rank), false);
  for (int64_t axis : *axes) {
    auto a = ref::normalize_axis(axis, rank);
    if (!a) return invalid_model(node.label(), "axis ", axis, " out of range for rank ", rank);
    if (reduced[static_cast<size_t>(*a)]) return invalid_model(node.label(), "axis ", axis, " listed twice");
    reduced[static_cast<size_t>(*a)] = true;
  }
  return reduced;
}

Shape output_shape(const Shape& in, const std::vector<bool>& reduced, bool keepdims) {
  Shape out;
  for (size_t d = 0; d < in.size(); ++d) {
    if (!reduced[d]) out.push_back(in[d]);
    else if (keepdims) out.push_back(1);
  }
  return out;
}

using ref::Lanes;
using ref::make_lanes;

// ---------------------------------------------------------------------------
// Reductions.

// Accumulator type: double for floats, 64-bit integers otherwise.
template <typename T>
using acc_t = std::conditional_t<std::is_floating_point_v<ref::compute_t<T>>, double,
                                 std::conditional_t<std::is_unsigned_v<T> && !std::is_same_v<T, bool>,
                                                    uint64_t, int64_t>>;

// Integer + and * wrap around (through uint64, never signed overflow).
template <typename A> A add(A a, A b) {
  if constexpr (std::is_integral_v<A>) return static_cast<A>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  else return a + b;
}
template <typename A> A mul(A a, A b) {
  if constexpr (std::is_integral_v<A>) return static_cast<A>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  else return a * b;
}
template <typename A> A absolute(A a) {
  if constexpr (std::is_unsigned_v<A>) return a;
  else if constexpr (std::is_integral_v<A>) return a < 0 ? static_cast<A>(0 - static_cast<uint64_t>(a)) : a;
  else return std::fabs(a);
}
template <typename A> bool is_nan(A a) {
  if constexpr (std::is_floating_point_v<A>) return std::isnan(a);
  else return false;
}
// Applies a float function to the accumulator (only instantiated usefully for
// floats: integer LogSum/LogSumExp are rejected by infer).
template <typename A, typename F> A float_fn(A a, F f) {
  if constexpr (std::is_floating_point_v<A>) return f(a);
  else return a;
}

// The identity of max/min for T, as an accumulator value.
template <typename T, typename A>
A lowest_value() {
  if constexpr (std::is_floating_point_v<A>) return -std::numeric_limits<A>::infinity();
  else return static_cast<A>(std::numeric_limits<T>::lowest());
}
template <typename T, typename A>
A highest_value() {
  if constexpr (std::is_floating_point_v<A>) return std::numeric_limits<A>::infinity();
  else return static_cast<A>(std::numeric_limits<T>::max());
}

template <typename A>
struct Reduction {
  A init;
  A (*accumulate)(A acc, A x);
  A (*finalize)(A acc, int64_t count);
};

// The Reduction of each op for element type T. Empty lanes give the initial
// value through finalize: 0 for sums, 1 for products, the lowest value for
// max, the highest for min, -inf for LogSum/LogSumExp, NaN for a float mean.
template <typename T>
Reduction<acc_t<T>> reduction_for(OpKind op) {
  using A = acc_t<T>;
  constexpr bool kFloat = std::is_floating_point_v<A>;
  auto keep = [](A acc, int64_t) { return acc; };
  auto sum = [](A acc, A x) { return add(acc, x); };
  auto sum_squares = [](A acc, A x) { return add(acc, mul(x, x)); };
  auto log_of = [](A acc, int64_t) { return float_fn(acc, [](double v) { return std::log(v); }); };
  switch (op) {
    case OpKind::ReduceL1: return {A(0), [](A acc, A x) { return add(acc, absolute(x)); }, keep};
    case OpKind::ReduceL2:
      return {A(0), sum_squares, [](A acc, int64_t) {
                // max() keeps a wrapped-around (negative) integer sum from giving NaN.
                return static_cast<A>(std::sqrt(std::max(0.0, static_cast<double>(acc))));
              }};
    case OpKind::ReduceLogSum: return {A(0), sum, log_of};
    // Run with a per-lane shift (the lane's max), see reduce_lanes.
    case OpKind::ReduceLogSumExp:
      return {A(0), [](A acc, A x) { return add(acc, float_fn(x, [](double v) { return std::exp(v); })); }, log_of};
    case OpKind::ReduceMax:
      return {lowest_value<T, A>(), [](A acc, A x) { return (x > acc || is_nan(x)) ? x : acc; }, keep};
    case OpKind::ReduceMin:
      return {highest_value<T, A>(), [](A acc, A x) { return (x < acc || is_nan(x)) ? x : acc; }, keep};
    case OpKind::ReduceMean:
      return {A(0), sum, [](A acc, int64_t n) {
                if constexpr (kFloat) return acc / static_cast<double>(n);
                else return n == 0 ? A(0) : static_cast<A>(acc / static_cast<A>(n));
              }};
    case OpKind::ReduceProd: return {A(1), mul<A>, keep};
    case OpKind::ReduceSumSquare: return {A(0), sum_squares, keep};
    default: return {A(0), sum, keep};  // ReduceSum
  }
}

// The shift for ReduceLogSumExp: the largest finite element of the lane (0
// if none), so exp never overflows.
template <typename A>
Reduction<A> finite_max() {
  return {-std::numeric_limits<A>::infinity(),
          [](A acc, A x) { return (std::isfinite(x) && x > acc) ? x : acc; },
          [](A acc, int64_t) { return std::isinf(acc) ? A(0) : acc; }};
}

// The generic loop: out[i] = finalize(accumulate over lane i of (x - shift[i])) + shift[i].
template <typename A, typename T>
std::vector<A> reduce_lanes(const T* in, const Lanes& lanes, const Reduction<A>& r,
                            const std::vector<A>* shift = nullptr) {
  std::vector<A> out(lanes.base.size());
  for (size_t i = 0; i < lanes.base.size(); ++i) {
    A acc = r.init;
    for (int64_t m : lanes.member) {
      A x = convert_element<A>(in[lanes.base[i] + m]);
      if (shift) x -= (*shift)[i];
      acc = r.accumulate(acc, x);
    }
    out[i] = r.finalize(acc, static_cast<int64_t>(lanes.member.size()));
    if (shift) out[i] += (*shift)[i];
  }
  return out;
}

// ---------------------------------------------------------------------------
// Infer and kernel, shared by all Reduce* ops.

bool allows_dtype(OpKind op, DType dtype) {
  if (dtype_is_float(dtype)) return true;
  if (op == OpKind::ReduceLogSum || op == OpKind::ReduceLogSumExp) return false;
  if (dtype == DType::kBool) return op == OpKind::ReduceMax || op == OpKind::ReduceMin;
  return dtype_is_integer(dtype);
}

Status infer_reduce(InferContext& ctx) {
  const Node& node = ctx.node();
  if (!ctx.has_input(0)) return ctx.error("missing input 0");
  const DType dtype = ctx.dtype(0);
  if (!allows_dtype(node.op, dtype)) return ctx.unsupported_error("dtype ", dtype_name(dtype), " not supported");
  std::vector<int64_t> axes;
  if (ctx.has_input(1)) {
    if (ctx.rank(1) > 1) return ctx.error("axes must be 1-D, got ", ctx.input(1).describe());
    ISKRA_ASSIGN_OR_RETURN(axes, ctx.value_ints(1));
  }
  ISKRA_ASSIGN_OR_RETURN(std::vector<bool> reduced, reduced_axes(node, ctx.rank(0), ctx.has_input(1) ? &axes : nullptr));
  ctx.set_output(0, dtype, output_shape(ctx.shape(0), reduced, node.attr_int("keepdims", 1) != 0));
  return Status::ok();
}

Status run_reduce(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  Tensor& y = ctx.output(0);
  std::vector<int64_t> axes;
  if (ctx.has_input(1)) axes = tensor_to_int64s(ctx.input(1));
  ISKRA_ASSIGN_OR_RETURN(std::vector<bool> reduced, reduced_axes(ctx.node, x.rank(), ctx.has_input(1) ? &axes : nullptr));
  const Lanes lanes = make_lanes(x.shape(), reduced);
  const OpKind op = ctx.node.op;
  auto run = [&](auto tag) -> Status {
    using T = decltype(tag);
    using A = acc_t<T>;
    const T* in = x.data<T>();
    T* out = y.data<T>();
    std::vector<A> shift;
    if constexpr (std::is_floating_point_v<A>) {
      if (op == OpKind::ReduceLogSumExp) shift = reduce_lanes(in, lanes, finite_max<A>());
    }
    const std::vector<A> result = reduce_lanes(in, lanes, reduction_for<T>(op), shift.empty() ? nullptr : &shift);
    for (size_t i = 0; i < result.size(); ++i) out[i] = convert_element<T>(result[i]);
    return Status::ok();
  };
  return ISKRA_DISPATCH_ALL(x.dtype(), run, ctx.unsupported_error("dtype ", dtype_name(x.dtype())));
}

}  // namespace

void register_reduce_ops(OpTable& table) {
  for (OpKind op : {OpKind::ReduceL1, OpKind::ReduceL2, OpKind::ReduceLogSum, OpKind::ReduceLogSumExp,
                    OpKind::ReduceMax, OpKind::ReduceMean, OpKind::ReduceMin, OpKind::ReduceProd,
                    OpKind::ReduceSum, OpKind::ReduceSumSquare})
    table.add(op, infer_reduce, run_reduce);
}

}  // namespace iskra
