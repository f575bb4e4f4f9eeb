// Reference kernels and shape functions: linalg ops.
//
// Products (MatMul, Gemm, MatMulInteger, Einsum) accumulate in double for
// floats and in uint64 for integers (wrap-around, then narrowed: the same
// result as wrapping arithmetic in the element type). Det, the softmax family
// and the normalizations compute in double: they load their float input into
// a std::vector<double>, work on "lanes" (groups of elements normalized
// together, see Lanes) and store the result back in the output's dtype.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "base/checked_math.h"
#include "kernels/kernel.h"
#include "kernels/ref/common.h"

namespace iskra {
namespace {

using ref::convert_element;

// ---------------------------------------------------------------------------
// Shared helpers.

Status require_input(const InferContext& ctx, size_t i) {
  return ctx.has_input(i) ? Status::ok() : ctx.error("missing input ", i);
}

Status require_float(const InferContext& ctx, size_t i) {
  ISKRA_RETURN_IF_ERROR(require_input(ctx, i));
  if (!dtype_is_float(ctx.dtype(i)))
    return ctx.unsupported_error("input ", i, " has dtype ", dtype_name(ctx.dtype(i)), ", expected a float type");
  return Status::ok();
}

Status require_numeric(const InferContext& ctx, size_t i) {
  ISKRA_RETURN_IF_ERROR(require_input(ctx, i));
  const DType dtype = ctx.dtype(i);
  if (!dtype_is_float(dtype) && !dtype_is_integer(dtype))
    return ctx.unsupported_error("input ", i, " has dtype ", dtype_name(dtype), ", expected a numeric type");
  return Status::ok();
}

Status require_same_dtype(const InferContext& ctx, size_t i, size_t j) {
  if (ctx.dtype(i) != ctx.dtype(j))
    return ctx.error("inputs ", i, " and ", j, " have different dtypes: ", dtype_name(ctx.dtype(i)), " vs ",
                     dtype_name(ctx.dtype(j)));
  return Status::ok();
}

// Input `i` must be 1-D with `size` elements (per-channel parameters).
Status require_vector(const InferContext& ctx, size_t i, int64_t size, const char* what) {
  ISKRA_RETURN_IF_ERROR(require_float(ctx, i));
  if (ctx.rank(i) != 1 || ctx.shape(i)[0] != size)
    return ctx.error(what, " must have shape [", size, "], got ", shape_to_string(ctx.shape(i)));
  return Status::ok();
}

// Output 0 = input 0's dtype and shape, for float ops with no shape change.
Status infer_float_unary(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_float(ctx, 0));
  ctx.set_output(0, ctx.dtype(0), ctx.shape(0));
  return Status::ok();
}

// Accumulator of products: double for floats, wrapping uint64 for integers.
template <typename T>
using product_acc_t = std::conditional_t<std::is_floating_point_v<ref::compute_t<T>>, double, uint64_t>;

using ref::offsets_over;

std::vector<size_t> all_dims(size_t rank) {
  std::vector<size_t> dims(rank);
  std::iota(dims.begin(), dims.end(), size_t{0});
  return dims;
}

// A tensor broadcast (numpy rules) to `shape`, element by element, as V.
template <typename V>
std::vector<V> expand_to(const Tensor& t, const Shape& shape) {
  const std::vector<int64_t> offsets = offsets_over(shape, ref::broadcast_strides(t.shape(), shape), all_dims(shape.size()));
  std::vector<V> out(offsets.size());
  for (size_t i = 0; i < offsets.size(); ++i) {
    if constexpr (std::is_floating_point_v<V>) out[i] = tensor_double_at(t, offsets[i]);
    else out[i] = static_cast<V>(tensor_int_at(t, offsets[i]));
  }
  return out;
}

// Float tensors as doubles and back.
std::vector<double> load_doubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.element_count()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = tensor_double_at(t, static_cast<int64_t>(i));
  return v;
}

Status store_doubles(const KernelContext& ctx, Tensor& t, const std::vector<double>& v) {
  auto store = [&](auto tag) -> Status {
    using T = decltype(tag);
    T* out = t.data<T>();
    for (size_t i = 0; i < v.size(); ++i) out[i] = convert_element<T>(v[i]);
    return Status::ok();
  };
  return ISKRA_DISPATCH_FLOAT(t.dtype(), store, ctx.unsupported_error("dtype ", dtype_name(t.dtype())));
}

// Stores optional output i if the node has it.
Status store_optional(const KernelContext& ctx, size_t i, const std::vector<double>& v) {
  return i < ctx.outputs.size() ? store_doubles(ctx, ctx.output(i), v) : Status::ok();
}

using ref::Lanes;
using ref::make_lanes;

// Lanes over axes [first, rank): the trailing block of each row.
Lanes trailing_lanes(const Shape& shape, int first) {
  std::vector<bool> grouped(shape.size(), false);
  for (size_t d = static_cast<size_t>(first); d < shape.size(); ++d) grouped[d] = true;
  return make_lanes(shape, grouped);
}

// Mean and (biased) variance of lane i; with center=false the mean is taken
// as 0, so the "variance" is the mean of squares (RMSNormalization).
struct Moments {
  double mean = 0.0;
  double var = 0.0;
};

Moments lane_moments(const std::vector<double>& x, const Lanes& lanes, size_t i, bool center) {
  Moments m;
  const double n = static_cast<double>(lanes.member.size());
  if (center) {
    for (int64_t j : lanes.member) m.mean += x[static_cast<size_t>(lanes.base[i] + j)];
    m.mean /= n;
  }
  for (int64_t j : lanes.member) {
    const double d = x[static_cast<size_t>(lanes.base[i] + j)] - m.mean;
    m.var += d * d;
  }
  m.var /= n;
  return m;
}

// ---------------------------------------------------------------------------
// MatMul, Gemm, MatMulInteger: one batched product loop.

struct MatMulDims {
  Shape a_batch, b_batch, batch;
  int64_t m = 1, k = 1, n = 1;
  Shape out;
};

// numpy matmul shapes: a 1-D A is a row [1,K], a 1-D B a column [K,1] (the
// added dim is dropped from the output); batch dims broadcast.
std::optional<MatMulDims> matmul_dims(const Shape& a, const Shape& b) {
  if (a.empty() || b.empty()) return std::nullopt;
  MatMulDims d;
  d.a_batch.assign(a.begin(), a.end() - std::min<ptrdiff_t>(static_cast<ptrdiff_t>(a.size()), 2));
  d.b_batch.assign(b.begin(), b.end() - std::min<ptrdiff_t>(static_cast<ptrdiff_t>(b.size()), 2));
  if (a.size() >= 2) d.m = a[a.size() - 2];
  d.k = a.back();
  const int64_t kb = b.size() >= 2 ? b[b.size() - 2] : b[0];
  if (b.size() >= 2) d.n = b.back();
  if (kb != d.k) return std::nullopt;
  auto batch = ref::broadcast_shapes(d.a_batch, d.b_batch);
  if (!batch) return std::nullopt;
  d.batch = *batch;
  d.out = d.batch;
  if (a.size() >= 2) d.out.push_back(d.m);
  if (b.size() >= 2) d.out.push_back(d.n);
  return d;
}

// Where A(m,k) and B(k,n) of batch i are: a_base[i] + m*a_row + k*a_col, etc.
struct MatMulLayout {
  int64_t m = 1, k = 1, n = 1;
  std::vector<int64_t> a_base{0}, b_base{0};
  int64_t a_row = 0, a_col = 1, b_row = 1, b_col = 0;
};

MatMulLayout matmul_layout(const MatMulDims& d) {
  MatMulLayout l{d.m, d.k, d.n, {}, {}, d.k, 1, d.n, 1};
  auto batch_offsets = [&](const Shape& operand_batch, int64_t matrix_size) {
    std::vector<int64_t> strides = ref::broadcast_strides(operand_batch, d.batch);
    for (int64_t& s : strides) s *= matrix_size;
    return offsets_over(d.batch, strides, all_dims(d.batch.size()));
  };
  l.a_base = batch_offsets(d.a_batch, d.m * d.k);
  l.b_base = batch_offsets(d.b_batch, d.k * d.n);
  return l;
}

// out[batch][m][n] = sum_k load_a(offset of A(m,k), m) * load_b(offset of B(k,n), n).
template <typename A, typename LoadA, typename LoadB>
std::vector<A> matmul_loop(const MatMulLayout& l, LoadA load_a, LoadB load_b) {
  std::vector<A> out;
  out.reserve(l.a_base.size() * static_cast<size_t>(l.m * l.n));
  for (size_t bi = 0; bi < l.a_base.size(); ++bi)
    for (int64_t m = 0; m < l.m; ++m)
      for (int64_t n = 0; n < l.n; ++n) {
        A acc = 0;
        for (int64_t k = 0; k < l.k; ++k)
          acc += load_a(l.a_base[bi] + m * l.a_row + k * l.a_col, m) *
                 load_b(l.b_base[bi] + k * l.b_row + n * l.b_col, n);
        out.push_back(acc);
      }
  return out;
}

// Typed loader of operand `t` as accumulator type A (the 2nd argument, the
// row or column, is only used by MatMulInteger's zero points).
template <typename T, typename A>
auto loader(const Tensor& t) {
  return [p = t.data<T>()](int64_t offset, int64_t) { return convert_element<A>(p[offset]); };
}

Status infer_matmul(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_numeric(ctx, 0));
  ISKRA_RETURN_IF_ERROR(require_numeric(ctx, 1));
  ISKRA_RETURN_IF_ERROR(require_same_dtype(ctx, 0, 1));
  auto dims = matmul_dims(ctx.shape(0), ctx.shape(1));
  if (!dims)
    return ctx.error("incompatible shapes ", shape_to_string(ctx.shape(0)), " and ", shape_to_string(ctx.shape(1)));
  ctx.set_output(0, ctx.dtype(0), dims->out);
  return Status::ok();
}

Status run_matmul(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const MatMulLayout l = matmul_layout(*matmul_dims(a.shape(), b.shape()));
  auto run = [&](auto tag) -> Status {
    using T = decltype(tag);
    using A = product_acc_t<T>;
    const std::vector<A> acc = matmul_loop<A>(l, loader<T, A>(a), loader<T, A>(b));
    T* out = ctx.output(0).data<T>();
    for (size_t i = 0; i < acc.size(); ++i) out[i] = convert_element<T>(acc[i]);
    return Status::ok();
  };
  return ISKRA_DISPATCH_NUMERIC(a.dtype(), run, ctx.unsupported_error("dtype ", dtype_name(a.dtype())));
}

// Gemm: Y = alpha * A' * B' + beta * C, A' = transA ? A^T : A (2-D), C
// unidirectionally broadcast to [M, N]. For integer types alpha and beta must
// be whole numbers (the product stays in integer arithmetic).
struct GemmDims {
  int64_t m, k, n;
};

GemmDims gemm_dims(const Node& node, const Shape& a, const Shape& b) {
  const bool ta = node.attr_int("transA", 0) != 0;
  const bool tb = node.attr_int("transB", 0) != 0;
  return GemmDims{ta ? a[1] : a[0], ta ? a[0] : a[1], tb ? b[0] : b[1]};
}

Status infer_gemm(InferContext& ctx) {
  const Node& node = ctx.node();
  ISKRA_RETURN_IF_ERROR(require_numeric(ctx, 0));
  ISKRA_RETURN_IF_ERROR(require_numeric(ctx, 1));
  ISKRA_RETURN_IF_ERROR(require_same_dtype(ctx, 0, 1));
  if (ctx.rank(0) != 2 || ctx.rank(1) != 2)
    return ctx.error("A and B must be 2-D, got ", shape_to_string(ctx.shape(0)), " and ", shape_to_string(ctx.shape(1)));
  const GemmDims d = gemm_dims(node, ctx.shape(0), ctx.shape(1));
  const int64_t kb = node.attr_int("transB", 0) != 0 ? ctx.shape(1)[1] : ctx.shape(1)[0];
  if (kb != d.k)
    return ctx.error("inner dimensions differ: ", shape_to_string(ctx.shape(0)), " and ", shape_to_string(ctx.shape(1)));
  const Shape out{d.m, d.n};
  if (ctx.has_input(2)) {
    ISKRA_RETURN_IF_ERROR(require_same_dtype(ctx, 0, 2));
    auto b = ref::broadcast_shapes(ctx.shape(2), out);
    if (ctx.rank(2) > 2 || !b || *b != out)
      return ctx.error("C of shape ", shape_to_string(ctx.shape(2)), " does not broadcast to ", shape_to_string(out));
  }
  if (dtype_is_integer(ctx.dtype(0))) {
    const float alpha = node.attr_float("alpha", 1.0f), beta = node.attr_float("beta", 1.0f);
    auto whole = [](float v) { return v == std::trunc(v) && std::fabs(v) < 1e18f; };
    if (!whole(alpha) || !whole(beta)) return ctx.unsupported_error("non-integer alpha/beta with integer inputs");
  }
  ctx.set_output(0, ctx.dtype(0), out);
  return Status::ok();
}

Status run_gemm(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const GemmDims d = gemm_dims(ctx.node, a.shape(), b.shape());
  const bool ta = ctx.node.attr_int("transA", 0) != 0;
  const bool tb = ctx.node.attr_int("transB", 0) != 0;
  // A(m,k) is at m*K+k, or k*M+m when transposed; likewise B(k,n).
  const MatMulLayout l{d.m, d.k, d.n, {0}, {0}, ta ? 1 : d.k, ta ? d.m : 1, tb ? 1 : d.n, tb ? d.k : 1};
  const double alpha = ctx.node.attr_float("alpha", 1.0f);
  const double beta = ctx.node.attr_float("beta", 1.0f);
  auto run = [&](auto tag) -> Status {
    using T = decltype(tag);
    using A = product_acc_t<T>;
    std::vector<A> y = matmul_loop<A>(l, loader<T, A>(a), loader<T, A>(b));
    // Integer alpha/beta were checked to be whole: wrapping multiply through int64.
    const A alpha_a = std::is_floating_point_v<A> ? A(alpha) : static_cast<A>(static_cast<int64_t>(alpha));
    const A beta_a = std::is_floating_point_v<A> ? A(beta) : static_cast<A>(static_cast<int64_t>(beta));
    std::vector<A> c;
    if (ctx.has_input(2)) c = expand_to<A>(ctx.input(2), Shape{d.m, d.n});
    T* out = ctx.output(0).data<T>();
    for (size_t i = 0; i < y.size(); ++i) out[i] = convert_element<T>(alpha_a * y[i] + (c.empty() ? A(0) : beta_a * c[i]));
    return Status::ok();
  };
  return ISKRA_DISPATCH_NUMERIC(a.dtype(), run, ctx.unsupported_error("dtype ", dtype_name(a.dtype())));
}

// MatMulInteger: (A - a_zero_point) x (B - b_zero_point) in int32; zero
// points are per tensor (one element), per row of A ([M]) or per column of B ([N]).
Status check_zero_point(const InferContext& ctx, size_t i, size_t of, int64_t per_size) {
  if (!ctx.has_input(i)) return Status::ok();
  ISKRA_RETURN_IF_ERROR(require_same_dtype(ctx, i, of));
  const int64_t count = shape_element_count(ctx.shape(i));
  if (count != 1 && !(ctx.rank(i) == 1 && count == per_size))
    return ctx.error("zero point ", i, " must have 1 or ", per_size, " elements, got ", shape_to_string(ctx.shape(i)));
  return Status::ok();
}

Status infer_matmul_integer(InferContext& ctx) {
  for (size_t i : {0, 1}) {
    ISKRA_RETURN_IF_ERROR(require_input(ctx, i));
    if (ctx.dtype(i) != DType::kU8 && ctx.dtype(i) != DType::kI8)
      return ctx.unsupported_error("input ", i, " has dtype ", dtype_name(ctx.dtype(i)), ", expected u8 or i8");
  }
  auto dims = matmul_dims(ctx.shape(0), ctx.shape(1));
  if (!dims)
    return ctx.error("incompatible shapes ", shape_to_string(ctx.shape(0)), " and ", shape_to_string(ctx.shape(1)));
  ISKRA_RETURN_IF_ERROR(check_zero_point(ctx, 2, 0, dims->m));
  ISKRA_RETURN_IF_ERROR(check_zero_point(ctx, 3, 1, dims->n));
  ctx.set_output(0, DType::kI32, dims->out);
  return Status::ok();
}

// A zero point as one value per row/column (`size` values; zeros if absent).
std::vector<int64_t> zero_points(const KernelContext& ctx, size_t i, int64_t size) {
  std::vector<int64_t> zp(static_cast<size_t>(size), 0);
  if (!ctx.has_input(i)) return zp;
  const Tensor& t = ctx.input(i);
  for (int64_t j = 0; j < size; ++j) zp[static_cast<size_t>(j)] = tensor_int_at(t, t.element_count() == 1 ? 0 : j);
  return zp;
}

Status run_matmul_integer(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const MatMulLayout l = matmul_layout(*matmul_dims(a.shape(), b.shape()));
  const std::vector<int64_t> za = zero_points(ctx, 2, l.m), zb = zero_points(ctx, 3, l.n);
  auto shifted = [](const Tensor& t, const std::vector<int64_t>& zp) {
    return [&t, &zp](int64_t offset, int64_t row_or_col) {
      return static_cast<uint64_t>(tensor_int_at(t, offset) - zp[static_cast<size_t>(row_or_col)]);
    };
  };
  const std::vector<uint64_t> acc = matmul_loop<uint64_t>(l, shifted(a, za), shifted(b, zb));
  int32_t* out = ctx.output(0).data<int32_t>();
  for (size_t i = 0; i < acc.size(); ++i) out[i] = static_cast<int32_t>(acc[i]);
  return Status::ok();
}

// ---------------------------------------------------------------------------
// Einsum: output[out labels] = sum over the other labels of the product of
// the operands. Labels: 'A'-'Z' -> 0..25, 'a'-'z' -> 26..51 (so label order
// is ASCII order), ellipsis dims -> kEllipsisLabel + j, right-aligned across
// operands (numpy broadcasting).

constexpr int kEllipsisLabel = 52;

struct EinsumSpec {
  std::vector<std::vector<int>> inputs;  // label of each dim of each operand
  std::vector<int> output;
  std::vector<int64_t> size;             // per label, -1 if unused
};

// One term ("ab...c") of an operand of rank `rank` (or of the output when
// rank < 0, with `ellipsis_rank` ellipsis dims).
Result<std::vector<int>> parse_term(const std::string& term, int rank, int ellipsis_rank, const Node& node) {
  std::vector<int> letters_before, letters_after;
  bool has_ellipsis = false;
  for (size_t i = 0; i < term.size(); ++i) {
    const char c = term[i];
    if (c == '.') {
      if (has_ellipsis || term.compare(i, 3, "...") != 0)
        return invalid_model(node.label(), "bad ellipsis in einsum term '", term, "'");
      has_ellipsis = true;
      i += 2;
    } else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) {
      (has_ellipsis ? letters_after : letters_before).push_back(c <= 'Z' ? c - 'A' : 26 + (c - 'a'));
    } else {
      return invalid_model(node.label(), "bad character '", std::string(1, c), "' in einsum equation");
    }
  }
  const int letter_count = static_cast<int>(letters_before.size() + letters_after.size());
  int e = 0;  // ellipsis dims of this term
  if (rank >= 0) {
    e = rank - letter_count;
    if (e < 0 || (!has_ellipsis && e != 0))
      return invalid_model(node.label(), "einsum term '", term, "' does not match an operand of rank ", rank);
  } else if (has_ellipsis) {
    e = ellipsis_rank;
  }
  std::vector<int> labels = letters_before;
  for (int j = 0; j < e; ++j) labels.push_back(kEllipsisLabel + ellipsis_rank - e + j);
  labels.insert(labels.end(), letters_after.begin(), letters_after.end());
  return labels;
}

Result<EinsumSpec> parse_einsum(const Node& node, const std::vector<Shape>& shapes) {
  std::string eq;
  for (char c : node.attr_string("equation", "")) if (c != ' ') eq += c;
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  std::vector<std::string> terms;
  for (size_t start = 0;;) {
    const size_t comma = lhs.find(',', start);
    terms.push_back(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != shapes.size())
    return invalid_model(node.label(), "einsum equation '", eq, "' has ", terms.size(), " terms for ", shapes.size(), " inputs");
  // The ellipsis rank: the largest count of dims not named by letters.
  int ellipsis_rank = 0;
  for (size_t i = 0; i < terms.size(); ++i) {
    const auto letters = std::count_if(terms[i].begin(), terms[i].end(), [](char c) { return c != '.'; });
    ellipsis_rank = std::max(ellipsis_rank, static_cast<int>(shapes[i].size()) - static_cast<int>(letters));
  }
  EinsumSpec spec;
  spec.size.assign(static_cast<size_t>(kEllipsisLabel + ellipsis_rank), -1);
  std::vector<int> uses(spec.size.size(), 0);
  for (size_t i = 0; i < terms.size(); ++i) {
    ISKRA_ASSIGN_OR_RETURN(std::vector<int> labels, parse_term(terms[i], static_cast<int>(shapes[i].size()), ellipsis_rank, node));
    for (size_t d = 0; d < labels.size(); ++d) {
      const size_t label = static_cast<size_t>(labels[d]);
      const int64_t dim = shapes[i][d];
      int64_t& size = spec.size[label];
      ++uses[label];
      // Ellipsis dims broadcast (size 1 stretches); letters must agree.
      if (size < 0 || (labels[d] >= kEllipsisLabel && size == 1)) size = dim;
      else if (dim != size && !(labels[d] >= kEllipsisLabel && dim == 1))
        return invalid_model(node.label(), "einsum dimension mismatch for operand ", i, " dim ", d, ": ", dim, " vs ", size);
    }
    spec.inputs.push_back(std::move(labels));
  }
  if (arrow != std::string::npos) {
    ISKRA_ASSIGN_OR_RETURN(spec.output, parse_term(eq.substr(arrow + 2), -1, ellipsis_rank, node));
    std::vector<bool> seen(spec.size.size(), false);
    for (int label : spec.output) {
      const size_t l = static_cast<size_t>(label);
      if (spec.size[l] < 0) return invalid_model(node.label(), "einsum output label not in any input");
      if (seen[l]) return invalid_model(node.label(), "einsum output label repeated");
      seen[l] = true;
    }
  } else {
    // Implicit output: ellipsis dims, then letters used exactly once, in ASCII order.
    for (int j = 0; j < ellipsis_rank; ++j) spec.output.push_back(kEllipsisLabel + j);
    for (int label = 0; label < kEllipsisLabel; ++label)
      if (uses[static_cast<size_t>(label)] == 1) spec.output.push_back(label);
  }
  return spec;
}

std::vector<Shape> input_shapes(const InferContext& ctx) {
  std::vector<Shape> shapes;
  for (size_t i = 0; i < ctx.input_count(); ++i) shapes.push_back(ctx.shape(i));
  return shapes;
}

Status infer_einsum(InferContext& ctx) {
  if (ctx.input_count() == 0) return ctx.error("needs at least one input");
  for (size_t i = 0; i < ctx.input_count(); ++i) {
    ISKRA_RETURN_IF_ERROR(require_numeric(ctx, i));
    ISKRA_RETURN_IF_ERROR(require_same_dtype(ctx, 0, i));
  }
  ISKRA_ASSIGN_OR_RETURN(EinsumSpec spec, parse_einsum(ctx.node(), input_shapes(ctx)));
  Shape out;
  for (int label : spec.output) out.push_back(spec.size[static_cast<size_t>(label)]);
  // The kernel loops over every label combination: refuse an absurd count.
  std::vector<int64_t> used;
  for (int64_t s : spec.size) if (s >= 0) used.push_back(s);
  if (!checked_element_count(used)) return ctx.error("einsum iteration space overflows");
  ctx.set_output(0, ctx.dtype(0), out);
  return Status::ok();
}

Status run_einsum(KernelContext& ctx) {
  std::vector<Shape> shapes;
  for (size_t i = 0; i < ctx.input_count(); ++i) shapes.push_back(ctx.input(i).shape());
  ISKRA_ASSIGN_OR_RETURN(EinsumSpec spec, parse_einsum(ctx.node, shapes));
  // Loop labels: output labels (outermost, so the output is written in
  // order), then the summed ones.
  std::vector<int> loop = spec.output;
  for (int label = 0; label < static_cast<int>(spec.size.size()); ++label)
    if (spec.size[static_cast<size_t>(label)] >= 0 && std::find(loop.begin(), loop.end(), label) == loop.end())
      loop.push_back(label);
  Shape loop_shape;
  for (int label : loop) loop_shape.push_back(spec.size[static_cast<size_t>(label)]);
  // strides[k][l]: step of operand k's offset per step of loop label l
  // (repeated labels add up: a diagonal; broadcast dims step 0).
  std::vector<std::vector<int64_t>> strides(shapes.size(), std::vector<int64_t>(loop.size(), 0));
  for (size_t k = 0; k < shapes.size(); ++k) {
    const std::vector<int64_t> dim_strides = ref::strides_of(shapes[k]);
    for (size_t d = 0; d < shapes[k].size(); ++d) {
      const size_t l = static_cast<size_t>(std::find(loop.begin(), loop.end(), spec.inputs[k][d]) - loop.begin());
      if (shapes[k][d] != 1 || loop_shape[l] == 1) strides[k][l] += dim_strides[d];
    }
  }
  const int64_t out_count = ctx.output(0).element_count();
  const int64_t total = shape_element_count(loop_shape);
  const int64_t sum_count = out_count == 0 ? 0 : total / out_count;
  auto run = [&](auto tag) -> Status {
    using T = decltype(tag);
    using A = product_acc_t<T>;
    std::vector<const T*> operands;
    for (size_t k = 0; k < shapes.size(); ++k) operands.push_back(ctx.input(k).data<T>());
    std::vector<int64_t> index(loop.size(), 0), offset(shapes.size(), 0);
    T* out = ctx.output(0).data<T>();
    for (int64_t o = 0; o < out_count; ++o) {
      A acc = 0;
      for (int64_t s = 0; s < sum_count; ++s) {
        A product = 1;
        for (size_t k = 0; k < operands.size(); ++k) product *= convert_element<A>(operands[k][offset[k]]);
        acc += product;
        // Advance the odometer over all loop labels, innermost last.
        for (size_t l = loop.size(); l-- > 0;) {
          for (size_t k = 0; k < offset.size(); ++k) offset[k] += strides[k][l];
          if (++index[l] < loop_shape[l]) break;
          for (size_t k = 0; k < offset.size(); ++k) offset[k] -= strides[k][l] * loop_shape[l];
          index[l] = 0;
        }
      }
      out[o] = convert_element<T>(acc);
    }
    return Status::ok();
  };
  const DType dtype = ctx.input(0).dtype();
  return ISKRA_DISPATCH_NUMERIC(dtype, run, ctx.unsupported_error("dtype ", dtype_name(dtype)));
}

// ---------------------------------------------------------------------------
// Det: determinant of each trailing [M, M] matrix, by LU with partial pivoting.

Status infer_det(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_float(ctx, 0));
  const Shape& s = ctx.shape(0);
  if (s.size() < 2 || s[s.size() - 1] != s[s.size() - 2])
    return ctx.error("input must be [*, M, M], got ", shape_to_string(s));
  ctx.set_output(0, ctx.dtype(0), Shape(s.begin(), s.end() - 2));
  return Status::ok();
}

double determinant(std::vector<double> a, size_t n) {
  double det = 1.0;
  for (size_t col = 0; col < n; ++col) {
    size_t pivot = col;
    for (size_t r = col + 1; r < n; ++r)
      if (std::fabs(a[r * n + col]) > std::fabs(a[pivot * n + col])) pivot = r;
    if (a[pivot * n + col] == 0.0) return 0.0;
    if (pivot != col) {
      for (size_t j = 0; j < n; ++j) std::swap(a[col * n + j], a[pivot * n + j]);
      det = -det;
    }
    det *= a[col * n + col];
    for (size_t r = col + 1; r < n; ++r) {
      const double f = a[r * n + col] / a[col * n + col];
      for (size_t j = col; j < n; ++j) a[r * n + j] -= f * a[col * n + j];
    }
  }
  return det;
}

Status run_det(KernelContext& ctx) {
  const std::vector<double> x = load_doubles(ctx.input(0));
  const size_t n = static_cast<size_t>(ctx.input(0).shape().back());
  std::vector<double> y(static_cast<size_t>(ctx.output(0).element_count()));
  for (size_t i = 0; i < y.size(); ++i)
    y[i] = determinant(std::vector<double>(x.begin() + static_cast<ptrdiff_t>(i * n * n),
                                           x.begin() + static_cast<ptrdiff_t>((i + 1) * n * n)), n);
  return store_doubles(ctx, ctx.output(0), y);
}

// ---------------------------------------------------------------------------
// Softmax, LogSoftmax, Hardmax along `axis`; with coerce_2d=1 (opset < 13,
// set by the importer) jointly over all axes from `axis` on.

Status infer_softmax(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_float(ctx, 0));
  if (!ref::normalize_axis(ctx.node().attr_int("axis", -1), ctx.rank(0)))
    return ctx.error("axis ", ctx.node().attr_int("axis", -1), " out of range for rank ", ctx.rank(0));
  ctx.set_output(0, ctx.dtype(0), ctx.shape(0));
  return Status::ok();
}

Status run_softmax(KernelContext& ctx) {
  const Tensor& t = ctx.input(0);
  const int axis = *ref::normalize_axis(ctx.node.attr_int("axis", -1), t.rank());
  std::vector<bool> grouped(static_cast<size_t>(t.rank()), false);
  grouped[static_cast<size_t>(axis)] = true;
  const Lanes lanes = ctx.node.attr_int("coerce_2d", 0) != 0 ? trailing_lanes(t.shape(), axis) : make_lanes(t.shape(), grouped);
  const std::vector<double> x = load_doubles(t);
  std::vector<double> y(x.size(), 0.0);
  for (int64_t base : lanes.base) {
    if (lanes.member.empty()) break;
    auto at = [&](int64_t j) { return static_cast<size_t>(base + j); };
    int64_t argmax = lanes.member.front();
    for (int64_t j : lanes.member) if (x[at(j)] > x[at(argmax)]) argmax = j;
    const double max = x[at(argmax)];
    double sum = 0.0;
    for (int64_t j : lanes.member) sum += std::exp(x[at(j)] - max);
    for (int64_t j : lanes.member) {
      switch (ctx.node.op) {
        case OpKind::Softmax: y[at(j)] = std::exp(x[at(j)] - max) / sum; break;
        case OpKind::LogSoftmax: y[at(j)] = x[at(j)] - max - std::log(sum); break;
        default: y[at(j)] = j == argmax ? 1.0 : 0.0; break;  // Hardmax: first maximum
      }
    }
  }
  return store_doubles(ctx, ctx.output(0), y);
}

// ---------------------------------------------------------------------------
// Normalizations over channels: X is [N, C, D1, ...].

// Channel of the element at flat offset i.
int64_t channel_of(int64_t i, int64_t channels, int64_t spatial) { return (i / spatial) % channels; }

int64_t spatial_size(const Shape& s) { return shape_element_count(std::span<const int64_t>(s).subspan(2)); }

Status require_nc(const InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_float(ctx, 0));
  if (ctx.rank(0) < 2) return ctx.error("input must be [N, C, ...], got ", shape_to_string(ctx.shape(0)));
  return Status::ok();
}

// BatchNormalization (inference): Y = scale * (X - mean) / sqrt(var + epsilon) + B per channel.
Status infer_batch_norm(InferContext& ctx) {
  if (ctx.node().attr_int("training_mode", 0) != 0) return ctx.unsupported_error("training_mode=1 is not supported");
  ISKRA_RETURN_IF_ERROR(require_nc(ctx));
  const int64_t c = ctx.shape(0)[1];
  const char* names[] = {"", "scale", "B", "input_mean", "input_var"};
  for (size_t i = 1; i <= 4; ++i) ISKRA_RETURN_IF_ERROR(require_vector(ctx, i, c, names[i]));
  ctx.set_output(0, ctx.dtype(0), ctx.shape(0));
  // running_mean/running_var only exist in training mode; if present, they pass the inputs through.
  ctx.set_output(1, ctx.dtype(3), {c});
  ctx.set_output(2, ctx.dtype(4), {c});
  return Status::ok();
}

Status run_batch_norm(KernelContext& ctx) {
  const Tensor& t = ctx.input(0);
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  const std::vector<double> x = load_doubles(t), scale = load_doubles(ctx.input(1)), bias = load_doubles(ctx.input(2)),
                            mean = load_doubles(ctx.input(3)), var = load_doubles(ctx.input(4));
  const int64_t c = t.dim(1), spatial = spatial_size(t.shape());
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t ch = static_cast<size_t>(channel_of(static_cast<int64_t>(i), c, spatial));
    y[i] = scale[ch] * (x[i] - mean[ch]) / std::sqrt(var[ch] + eps) + bias[ch];
  }
  ISKRA_RETURN_IF_ERROR(store_doubles(ctx, ctx.output(0), y));
  ISKRA_RETURN_IF_ERROR(store_optional(ctx, 1, mean));
  return store_optional(ctx, 2, var);
}

// Normalizes each (n, group) of X's channels to zero mean and unit variance,
// then applies per-channel scale and bias (GroupNormalization; with one
// group per channel, InstanceNormalization).
Status run_group_norm_impl(KernelContext& ctx, int64_t groups) {
  const Tensor& t = ctx.input(0);
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  const std::vector<double> x = load_doubles(t), scale = load_doubles(ctx.input(1)), bias = load_doubles(ctx.input(2));
  const int64_t c = t.dim(1), spatial = spatial_size(t.shape());
  const Lanes lanes = trailing_lanes(Shape{t.dim(0), groups, (c / groups) * spatial}, 2);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < lanes.base.size(); ++i) {
    const Moments m = lane_moments(x, lanes, i, true);
    for (int64_t j : lanes.member) {
      const int64_t at = lanes.base[i] + j;
      const size_t ch = static_cast<size_t>(channel_of(at, c, spatial));
      y[static_cast<size_t>(at)] = (x[static_cast<size_t>(at)] - m.mean) / std::sqrt(m.var + eps) * scale[ch] + bias[ch];
    }
  }
  return store_doubles(ctx, ctx.output(0), y);
}

Status infer_channel_norm(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_nc(ctx));
  const int64_t c = ctx.shape(0)[1];
  ISKRA_RETURN_IF_ERROR(require_vector(ctx, 1, c, "scale"));
  ISKRA_RETURN_IF_ERROR(require_vector(ctx, 2, c, "bias"));
  ctx.set_output(0, ctx.dtype(0), ctx.shape(0));
  return Status::ok();
}

Status run_instance_norm(KernelContext& ctx) { return run_group_norm_impl(ctx, ctx.input(0).dim(1)); }

// GroupNormalization (opset 21): scale and bias per channel.
Status infer_group_norm(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_nc(ctx));
  const int64_t groups = ctx.node().attr_int("num_groups", 0);
  const int64_t c = ctx.shape(0)[1];
  if (groups <= 0 || c % groups != 0) return ctx.error("num_groups ", groups, " must be > 0 and divide C = ", c);
  if (ctx.has_input(1) && ctx.rank(1) == 1 && ctx.shape(1)[0] == groups && groups != c)
    return ctx.unsupported_error("per-group scale/bias (GroupNormalization-18) is not supported");
  return infer_channel_norm(ctx);
}

Status run_group_norm(KernelContext& ctx) { return run_group_norm_impl(ctx, ctx.node.attr_int("num_groups", 0)); }

// ---------------------------------------------------------------------------
// Normalizations over the trailing axes [axis, rank).

// Scale (and bias) must broadcast to X's shape.
Status require_broadcastable(const InferContext& ctx, size_t i, const char* what) {
  ISKRA_RETURN_IF_ERROR(require_float(ctx, i));
  auto b = ref::broadcast_shapes(ctx.shape(i), ctx.shape(0));
  if (!b || *b != ctx.shape(0))
    return ctx.error(what, " of shape ", shape_to_string(ctx.shape(i)), " does not broadcast to ", shape_to_string(ctx.shape(0)));
  return Status::ok();
}

Result<int> trailing_axis(const InferContext& ctx) {
  const int64_t axis = ctx.node().attr_int("axis", -1);
  auto a = ref::normalize_axis(axis, ctx.rank(0));
  if (!a) return ctx.error("axis ", axis, " out of range for rank ", ctx.rank(0));
  return *a;
}

// LayerNormalization: Y = (X - mean) / sqrt(var + epsilon) * Scale + B; the
// optional Mean and InvStdDev have X's shape with axes >= axis set to 1 and
// dtype stash_type.
Status infer_layer_norm(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_float(ctx, 0));
  ISKRA_ASSIGN_OR_RETURN(int axis, trailing_axis(ctx));
  ISKRA_RETURN_IF_ERROR(require_broadcastable(ctx, 1, "Scale"));
  if (ctx.has_input(2)) ISKRA_RETURN_IF_ERROR(require_broadcastable(ctx, 2, "B"));
  const auto stash = static_cast<DType>(ctx.node().attr_int("stash_type", 1));
  if (!dtype_is_float(stash)) return ctx.error("stash_type ", static_cast<int>(stash), " is not a float type");
  Shape stats = ctx.shape(0);
  std::fill(stats.begin() + axis, stats.end(), 1);
  ctx.set_output(0, ctx.dtype(0), ctx.shape(0));
  ctx.set_output(1, stash, stats);
  ctx.set_output(2, stash, stats);
  return Status::ok();
}

Status run_layer_norm(KernelContext& ctx) {
  const Tensor& t = ctx.input(0);
  const int axis = *ref::normalize_axis(ctx.node.attr_int("axis", -1), t.rank());
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  const std::vector<double> x = load_doubles(t), scale = expand_to<double>(ctx.input(1), t.shape());
  const std::vector<double> bias = ctx.has_input(2) ? expand_to<double>(ctx.input(2), t.shape()) : std::vector<double>(x.size(), 0.0);
  const Lanes lanes = trailing_lanes(t.shape(), axis);
  std::vector<double> y(x.size()), mean(lanes.base.size()), inv_std(lanes.base.size());
  for (size_t i = 0; i < lanes.base.size(); ++i) {
    const Moments m = lane_moments(x, lanes, i, true);
    mean[i] = m.mean;
    inv_std[i] = 1.0 / std::sqrt(m.var + eps);
    for (int64_t j : lanes.member) {
      const size_t at = static_cast<size_t>(lanes.base[i] + j);
      y[at] = (x[at] - m.mean) * inv_std[i] * scale[at] + bias[at];
    }
  }
  ISKRA_RETURN_IF_ERROR(store_doubles(ctx, ctx.output(0), y));
  ISKRA_RETURN_IF_ERROR(store_optional(ctx, 1, mean));
  return store_optional(ctx, 2, inv_std);
}

// RMSNormalization: Y = X / sqrt(mean(X^2) + epsilon) * scale, in scale's dtype.
Status infer_rms_norm(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_float(ctx, 0));
  ISKRA_RETURN_IF_ERROR(trailing_axis(ctx).status());
  ISKRA_RETURN_IF_ERROR(require_broadcastable(ctx, 1, "scale"));
  ctx.set_output(0, ctx.dtype(1), ctx.shape(0));
  return Status::ok();
}

Status run_rms_norm(KernelContext& ctx) {
  const Tensor& t = ctx.input(0);
  const int axis = *ref::normalize_axis(ctx.node.attr_int("axis", -1), t.rank());
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  const std::vector<double> x = load_doubles(t), scale = expand_to<double>(ctx.input(1), t.shape());
  const Lanes lanes = trailing_lanes(t.shape(), axis);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < lanes.base.size(); ++i) {
    const double inv_rms = 1.0 / std::sqrt(lane_moments(x, lanes, i, false).var + eps);
    for (int64_t j : lanes.member) {
      const size_t at = static_cast<size_t>(lanes.base[i] + j);
      y[at] = x[at] * inv_rms * scale[at];
    }
  }
  return store_doubles(ctx, ctx.output(0), y);
}

// ---------------------------------------------------------------------------
// LRN, LpNormalization, MeanVarianceNormalization.

// LRN: Y = X / (bias + alpha / size * sum of X^2 over nearby channels)^beta,
// channels c - floor((size-1)/2) .. c + ceil((size-1)/2).
Status infer_lrn(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_nc(ctx));
  if (ctx.node().attr_int("size", 0) <= 0) return ctx.error("attribute size must be > 0");
  return infer_float_unary(ctx);
}

Status run_lrn(KernelContext& ctx) {
  const Tensor& t = ctx.input(0);
  const int64_t size = ctx.node.attr_int("size", 0);
  const double alpha = ctx.node.attr_float("alpha", 1e-4f), beta = ctx.node.attr_float("beta", 0.75f),
               bias = ctx.node.attr_float("bias", 1.0f);
  const int64_t c = t.dim(1), spatial = spatial_size(t.shape());
  const std::vector<double> x = load_doubles(t);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const int64_t ch = channel_of(static_cast<int64_t>(i), c, spatial);
    const int64_t first = std::max<int64_t>(0, ch - (size - 1) / 2);
    const int64_t last = std::min<int64_t>(c - 1, ch + size / 2);  // size/2 == ceil((size-1)/2)
    double sum = 0.0;
    for (int64_t k = first; k <= last; ++k) {
      const double v = x[i + static_cast<size_t>((k - ch) * spatial)];
      sum += v * v;
    }
    y[i] = x[i] / std::pow(bias + alpha / static_cast<double>(size) * sum, beta);
  }
  return store_doubles(ctx, ctx.output(0), y);
}

// LpNormalization: X / ||X||_p along axis (p = 1 or 2); 0 where the norm is 0.
Status infer_lp_norm(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_float(ctx, 0));
  ISKRA_RETURN_IF_ERROR(trailing_axis(ctx).status());
  const int64_t p = ctx.node().attr_int("p", 2);
  if (p != 1 && p != 2) return ctx.error("p must be 1 or 2, got ", p);
  return infer_float_unary(ctx);
}

Status run_lp_norm(KernelContext& ctx) {
  const Tensor& t = ctx.input(0);
  const int axis = *ref::normalize_axis(ctx.node.attr_int("axis", -1), t.rank());
  const bool l1 = ctx.node.attr_int("p", 2) == 1;
  std::vector<bool> grouped(static_cast<size_t>(t.rank()), false);
  grouped[static_cast<size_t>(axis)] = true;
  const Lanes lanes = make_lanes(t.shape(), grouped);
  const std::vector<double> x = load_doubles(t);
  std::vector<double> y(x.size());
  for (int64_t base : lanes.base) {
    double norm = 0.0;
    for (int64_t j : lanes.member) {
      const double v = x[static_cast<size_t>(base + j)];
      norm += l1 ? std::fabs(v) : v * v;
    }
    if (!l1) norm = std::sqrt(norm);
    for (int64_t j : lanes.member) {
      const size_t at = static_cast<size_t>(base + j);
      y[at] = norm == 0.0 ? 0.0 : x[at] / norm;
    }
  }
  return store_doubles(ctx, ctx.output(0), y);
}

// MeanVarianceNormalization: (X - mean) / (sqrt(var) + 1e-9) over `axes`.
Result<std::vector<bool>> mvn_axes(const Node& node, int rank) {
  std::vector<bool> grouped(static_cast<size_t>(rank), false);
  for (int64_t axis : node.attr_ints("axes", {0, 2, 3})) {
    auto a = ref::normalize_axis(axis, rank);
    if (!a) return invalid_model(node.label(), "axis ", axis, " out of range for rank ", rank);
    grouped[static_cast<size_t>(*a)] = true;
  }
  return grouped;
}

Status infer_mvn(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(require_float(ctx, 0));
  ISKRA_RETURN_IF_ERROR(mvn_axes(ctx.node(), ctx.rank(0)).status());
  return infer_float_unary(ctx);
}

Status run_mvn(KernelContext& ctx) {
  const Tensor& t = ctx.input(0);
  ISKRA_ASSIGN_OR_RETURN(std::vector<bool> grouped, mvn_axes(ctx.node, t.rank()));
  const Lanes lanes = make_lanes(t.shape(), grouped);
  const std::vector<double> x = load_doubles(t);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < lanes.base.size(); ++i) {
    const Moments m = lane_moments(x, lanes, i, true);
    for (int64_t j : lanes.member) {
      const size_t at = static_cast<size_t>(lanes.base[i] + j);
      y[at] = (x[at] - m.mean) / (std::sqrt(m.var) + 1e-9);
    }
  }
  return store_doubles(ctx, ctx.output(0), y);
}

}  // namespace

void register_linalg_ops(OpTable& table) {
  table.add(OpKind::MatMul, infer_matmul, run_matmul);
  table.add(OpKind::Gemm, infer_gemm, run_gemm);
  table.add(OpKind::MatMulInteger, infer_matmul_integer, run_matmul_integer);
  table.add(OpKind::Einsum, infer_einsum, run_einsum);
  table.add(OpKind::Det, infer_det, run_det);
  table.add(OpKind::Softmax, infer_softmax, run_softmax);
  table.add(OpKind::LogSoftmax, infer_softmax, run_softmax);
  table.add(OpKind::Hardmax, infer_softmax, run_softmax);
  table.add(OpKind::BatchNormalization, infer_batch_norm, run_batch_norm);
  table.add(OpKind::InstanceNormalization, infer_channel_norm, run_instance_norm);
  table.add(OpKind::GroupNormalization, infer_group_norm, run_group_norm);
  table.add(OpKind::LayerNormalization, infer_layer_norm, run_layer_norm);
  table.add(OpKind::RMSNormalization, infer_rms_norm, run_rms_norm);
  table.add(OpKind::LRN, infer_lrn, run_lrn);
  table.add(OpKind::LpNormalization, infer_lp_norm, run_lp_norm);
  table.add(OpKind::MeanVarianceNormalization, infer_mvn, run_mvn);
}

}  // namespace iskra
