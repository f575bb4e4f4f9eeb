// Reference kernels and shape functions: indexing ops.
//
// Ops that select, scatter, sort or scan elements by index: Gather*, Scatter*,
// Compress, OneHot, NonZero, Unique, TopK, ArgMax/ArgMin, CumSum/CumProd and
// ReverseSequence. Pure selection copies raw element bytes (every stored dtype);
// ops that compare or combine values dispatch on the dtype and compute in
// compute_t (float for f16/bf16), with wrapping arithmetic for integers.
// Index values read from tensors are validated: an out-of-range index is an
// error naming the node, never an out-of-bounds access.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "base/checked_math.h"
#include "kernels/kernel.h"
#include "kernels/ref/common.h"

namespace iskra {

namespace {

using ref::compute_t;
using ref::strides_of;

// ---------------------------------------------------------------------------
// Shared helpers

// Axis in [-rank, rank) mapped to [0, rank), or an error naming the node.
template <typename Ctx>
Result<int> axis_in(const Ctx& ctx, int64_t axis, int rank) {
  if (auto a = ref::normalize_axis(axis, rank)) return *a;
  return ctx.error("axis ", axis, " is out of range for rank ", rank);
}

// Checks the input count, that inputs [0, required) are present, and that
// input 0 is a storable (non-string) tensor.
Status check_inputs(const InferContext& ctx, size_t required, size_t max) {
  if (ctx.input_count() < required || ctx.input_count() > max)
    return ctx.error("expects ", required, " to ", max, " inputs, got ", ctx.input_count());
  for (size_t i = 0; i < required; ++i)
    if (!ctx.has_input(i)) return ctx.error("input ", i, " is required");
  if (dtype_size(ctx.dtype(0)) == 0)
    return ctx.unsupported_error("input of dtype ", dtype_name(ctx.dtype(0)), " is not supported");
  return Status::ok();
}

// Index inputs are int32 or int64.
Status check_index_input(const InferContext& ctx, size_t i) {
  if (ctx.dtype(i) != DType::kI32 && ctx.dtype(i) != DType::kI64)
    return ctx.error("input ", i, " must be int32 or int64, got ", ctx.input(i).describe());
  return Status::ok();
}

// Value-comparing ops take numeric (not bool) inputs.
Status check_numeric_input(const InferContext& ctx, size_t i) {
  if (!dtype_is_integer(ctx.dtype(i)) && !dtype_is_float(ctx.dtype(i)))
    return ctx.unsupported_error("input ", i, " of dtype ", dtype_name(ctx.dtype(i)), " is not supported");
  return Status::ok();
}

Status require_value(const InferContext& ctx, size_t i) {
  if (!ctx.has_value(i)) return needs_value(ctx.node().label(), "the output shape needs the value of input ", i);
  return Status::ok();
}

const std::byte* bytes(const Tensor& t) { return static_cast<const std::byte*>(t.raw_data()); }
std::byte* bytes(Tensor& t) { return static_cast<std::byte*>(t.raw_data()); }

// A tensor viewed as [outer, n, inner] around one axis (or flattened: [1, count, 1]).
struct AxisView {
  int64_t outer = 1, n = 1, inner = 1;
};

AxisView view_around(const Shape& shape, std::optional<int> axis) {
  AxisView v;
  if (!axis) {
    v.n = shape_element_count(shape);
    return v;
  }
  for (int d = 0; d < static_cast<int>(shape.size()); ++d) {
    const int64_t dim = shape[static_cast<size_t>(d)];
    if (d < *axis) v.outer *= dim;
    else if (d == *axis) v.n = dim;
    else v.inner *= dim;
  }
  return v;
}

// out[o, k, :] = in[o, picks[k], :] for `in` viewed as `v` (picks validated).
void take_slices(const Tensor& in, const AxisView& v, const std::vector<int64_t>& picks, Tensor& out) {
  const size_t slice = static_cast<size_t>(v.inner) * dtype_size(in.dtype());
  const auto k_count = static_cast<int64_t>(picks.size());
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t k = 0; k < k_count; ++k)
      std::memcpy(bytes(out) + static_cast<size_t>(o * k_count + k) * slice,
                  bytes(in) + static_cast<size_t>(o * v.n + picks[static_cast<size_t>(k)]) * slice, slice);
}

// Maps an index read from a tensor into [0, dim) (negative counts from the
// back), or an error naming the node.
Result<int64_t> wrap_index(const KernelContext& ctx, int64_t index, int64_t dim) {
  const int64_t i = index < 0 ? index + dim : index;
  if (i < 0 || i >= dim) return ctx.error("index ", index, " is out of range for a dim of size ", dim);
  return i;
}

// Total order on compute values: NaN is above every number and equal to NaN,
// so sorting never meets an inconsistent comparison.
template <typename C>
bool total_less(C a, C b) {
  if constexpr (std::is_floating_point_v<C>) {
    if (std::isnan(b)) return !std::isnan(a);
    if (std::isnan(a)) return false;
  }
  return a < b;
}

// Arithmetic type: integers (bool included) wrap through uint64, floats use compute_t.
template <typename T>
using arith_t = std::conditional_t<std::is_integral_v<T>, uint64_t, compute_t<T>>;
template <typename T>
arith_t<T> widen(T v) { return static_cast<arith_t<T>>(static_cast<compute_t<T>>(v)); }
template <typename T>
T narrow(arith_t<T> v) {
  if constexpr (std::is_same_v<T, bool>) return v != 0;  // add = or, mul = and
  else return ref::convert_element<T>(v);
}

// Combination of an existing and an incoming value (Scatter* reductions).
enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

Result<Reduction> read_reduction(const Node& node) {
  const std::string r = node.attr_string("reduction", "none");
  if (r == "none") return Reduction::kNone;
  if (r == "add") return Reduction::kAdd;
  if (r == "mul") return Reduction::kMul;
  if (r == "max") return Reduction::kMax;
  if (r == "min") return Reduction::kMin;
  return invalid_model(node.label(), "unknown reduction '", r, "'");
}

template <typename T>
T combine(Reduction r, T current, T update) {
  switch (r) {
    case Reduction::kNone: return update;
    case Reduction::kAdd: return narrow<T>(widen(current) + widen(update));
    case Reduction::kMul: return narrow<T>(widen(current) * widen(update));
    case Reduction::kMax:
      return static_cast<compute_t<T>>(update) > static_cast<compute_t<T>>(current) ? update : current;
    case Reduction::kMin:
      return static_cast<compute_t<T>>(update) < static_cast<compute_t<T>>(current) ? update : current;
  }
  return update;
}

// ---------------------------------------------------------------------------
// Gather: out = data[..., indices[...], ...] along `axis`.

Status infer_gather(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(check_inputs(ctx, 2, 2));
  ISKRA_RETURN_IF_ERROR(check_index_input(ctx, 1));
  const Shape& data = ctx.shape(0);
  ISKRA_ASSIGN_OR_RETURN(int axis, axis_in(ctx, ctx.node().attr_int("axis", 0), ctx.rank(0)));
  Shape out(data.begin(), data.begin() + axis);
  out.insert(out.end(), ctx.shape(1).begin(), ctx.shape(1).end());
  out.insert(out.end(), data.begin() + axis + 1, data.end());
  ctx.set_output(0, ctx.dtype(0), std::move(out));
  return Status::ok();
}

Status run_gather(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const int axis = *ref::normalize_axis(ctx.node.attr_int("axis", 0), data.rank());
  const AxisView v = view_around(data.shape(), axis);
  std::vector<int64_t> picks = tensor_to_int64s(ctx.input(1));
  for (int64_t& p : picks) {
    ISKRA_ASSIGN_OR_RETURN(p, wrap_index(ctx, p, v.n));
  }
  take_slices(data, v, picks, ctx.output(0));
  return Status::ok();
}

// ---------------------------------------------------------------------------
// GatherElements / ScatterElements: indices has data's rank and picks, for
// each of its elements, the data element at the same position except along
// `axis`, where the index value is used.

Status check_elementwise_indices(const InferContext& ctx, int axis) {
  const Shape& data = ctx.shape(0);
  const Shape& indices = ctx.shape(1);
  if (indices.size() != data.size())
    return ctx.error("indices ", shape_to_string(indices), " must have the rank of data ", shape_to_string(data));
  for (size_t d = 0; d < data.size(); ++d)
    if (static_cast<int>(d) != axis && indices[d] > data[d])
      return ctx.error("indices ", shape_to_string(indices), " exceed data ", shape_to_string(data),
                       " along axis ", d);
  return Status::ok();
}

// Calls fn(k, offset) for each element k of `indices`, where offset is the
// data element it addresses. Fails on an out-of-range index.
template <typename Fn>
Status for_each_element_index(const KernelContext& ctx, const Tensor& indices, const Shape& data_shape,
                              int axis, Fn fn) {
  const std::vector<int64_t> data_strides = strides_of(data_shape);
  const auto a = static_cast<size_t>(axis);
  std::vector<int64_t> index(indices.shape().size(), 0);
  for (int64_t k = 0; k < indices.element_count(); ++k) {
    ISKRA_ASSIGN_OR_RETURN(int64_t i, wrap_index(ctx, tensor_int_at(indices, k), data_shape[a]));
    int64_t offset = i * data_strides[a];
    for (size_t d = 0; d < index.size(); ++d)
      if (d != a) offset += index[d] * data_strides[d];
    fn(k, offset);
    for (size_t d = index.size(); d-- > 0;) {
      if (++index[d] < indices.shape()[d]) break;
      index[d] = 0;
    }
  }
  return Status::ok();
}

Status infer_gather_elements(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(check_inputs(ctx, 2, 2));
  ISKRA_RETURN_IF_ERROR(check_index_input(ctx, 1));
  ISKRA_ASSIGN_OR_RETURN(int axis, axis_in(ctx, ctx.node().attr_int("axis", 0), ctx.rank(0)));
  ISKRA_RETURN_IF_ERROR(check_elementwise_indices(ctx, axis));
  ctx.set_output(0, ctx.dtype(0), ctx.shape(1));
  return Status::ok();
}

Status run_gather_elements(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  Tensor& out = ctx.output(0);
  const int axis = *ref::normalize_axis(ctx.node.attr_int("axis", 0), data.rank());
  const size_t elem = dtype_size(data.dtype());
  return for_each_element_index(ctx, ctx.input(1), data.shape(), axis, [&](int64_t k, int64_t offset) {
    std::memcpy(bytes(out) + static_cast<size_t>(k) * elem, bytes(data) + static_cast<size_t>(offset) * elem, elem);
  });
}

Status infer_scatter_elements(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(check_inputs(ctx, 3, 3));
  ISKRA_RETURN_IF_ERROR(check_index_input(ctx, 1));
  ISKRA_RETURN_IF_ERROR(read_reduction(ctx.node()).status());
  ISKRA_ASSIGN_OR_RETURN(int axis, axis_in(ctx, ctx.node().attr_int("axis", 0), ctx.rank(0)));
  ISKRA_RETURN_IF_ERROR(check_elementwise_indices(ctx, axis));
  if (ctx.shape(2) != ctx.shape(1) || ctx.dtype(2) != ctx.dtype(0))
    return ctx.error("updates ", ctx.input(2).describe(), " must match indices ", shape_to_string(ctx.shape(1)),
                     " and data dtype ", dtype_name(ctx.dtype(0)));
  ctx.set_output(0, ctx.dtype(0), ctx.shape(0));
  return Status::ok();
}

Status run_scatter_elements(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& updates = ctx.input(2);
  Tensor& out = ctx.output(0);
  ISKRA_ASSIGN_OR_RETURN(Reduction r, read_reduction(ctx.node));
  const int axis = *ref::normalize_axis(ctx.node.attr_int("axis", 0), data.rank());
  if (out.byte_size()) std::memcpy(out.raw_data(), data.raw_data(), out.byte_size());
  auto scatter = [&](auto tag) {
    using T = decltype(tag);
    T* y = out.data<T>();
    const T* u = updates.data<T>();
    return for_each_element_index(ctx, ctx.input(1), data.shape(), axis,
                                  [&](int64_t k, int64_t offset) { y[offset] = combine(r, y[offset], u[k]); });
  };
  return ISKRA_DISPATCH_ALL(data.dtype(), scatter, ctx.unsupported_error("unsupported dtype"));
}

// ---------------------------------------------------------------------------
// GatherND / ScatterND: the last dim of indices holds tuples of k indices into
// data's dims [batch_dims, batch_dims + k); each tuple addresses a slice.

struct NdLayout {
  int64_t tuples = 0;            // number of index tuples
  int64_t tuples_per_batch = 1;  // tuples sharing one batch entry
  int64_t batch_stride = 0;      // data elements per batch entry
  int64_t slice = 1;             // data elements per addressed slice
  Shape dims;                    // the k indexed data dims
  std::vector<int64_t> strides;  // their data strides
};

NdLayout nd_layout(const Shape& data, const Shape& indices, size_t batch_dims) {
  NdLayout l;
  const auto k = static_cast<size_t>(indices.back());
  const std::vector<int64_t> data_strides = strides_of(data);
  l.tuples = shape_element_count(std::span(indices).first(indices.size() - 1));
  l.tuples_per_batch = shape_element_count(std::span(indices).subspan(batch_dims, indices.size() - 1 - batch_dims));
  l.batch_stride = shape_element_count(std::span(data).subspan(batch_dims));
  l.slice = shape_element_count(std::span(data).subspan(batch_dims + k));
  l.dims.assign(data.begin() + static_cast<ptrdiff_t>(batch_dims), data.begin() + static_cast<ptrdiff_t>(batch_dims + k));
  l.strides.assign(data_strides.begin() + static_cast<ptrdiff_t>(batch_dims),
                   data_strides.begin() + static_cast<ptrdiff_t>(batch_dims + k));
  return l;
}

// Data element offset of the slice addressed by tuple t.
Result<int64_t> nd_offset(const KernelContext& ctx, const Tensor& indices, const NdLayout& l, int64_t t) {
  const auto k = static_cast<int64_t>(l.dims.size());
  int64_t offset = l.tuples_per_batch ? t / l.tuples_per_batch * l.batch_stride : 0;
  for (int64_t j = 0; j < k; ++j) {
    const auto ju = static_cast<size_t>(j);
    ISKRA_ASSIGN_OR_RETURN(int64_t i, wrap_index(ctx, tensor_int_at(indices, t * k + j), l.dims[ju]));
    offset += i * l.strides[ju];
  }
  return offset;
}

Status infer_gather_nd(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(check_inputs(ctx, 2, 2));
  ISKRA_RETURN_IF_ERROR(check_index_input(ctx, 1));
  const Shape& data = ctx.shape(0);
  const Shape& indices = ctx.shape(1);
  const int64_t b = ctx.node().attr_int("batch_dims", 0);
  const auto r = static_cast<int64_t>(data.size()), q = static_cast<int64_t>(indices.size());
  if (r < 1 || q < 1 || b < 0 || b >= std::min(r, q))
    return ctx.error("invalid batch_dims ", b, " for data ", shape_to_string(data), " and indices ",
                     shape_to_string(indices));
  if (indices.back() < 0 || indices.back() > r - b)
    return ctx.error("index tuples of length ", indices.back(), " exceed data rank ", r, " - batch_dims ", b);
  if (!std::equal(data.begin(), data.begin() + b, indices.begin()))
    return ctx.error("batch dims of data ", shape_to_string(data), " and indices ", shape_to_string(indices),
                     " differ");
  Shape out(indices.begin(), indices.end() - 1);
  out.insert(out.end(), data.begin() + b + indices.back(), data.end());
  ctx.set_output(0, ctx.dtype(0), std::move(out));
  return Status::ok();
}

Status run_gather_nd(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  const NdLayout l = nd_layout(data.shape(), indices.shape(), static_cast<size_t>(ctx.node.attr_int("batch_dims", 0)));
  const size_t slice_bytes = static_cast<size_t>(l.slice) * dtype_size(data.dtype());
  for (int64_t t = 0; t < l.tuples; ++t) {
    ISKRA_ASSIGN_OR_RETURN(int64_t offset, nd_offset(ctx, indices, l, t));
    std::memcpy(bytes(ctx.output(0)) + static_cast<size_t>(t) * slice_bytes,
                bytes(data) + static_cast<size_t>(offset) * dtype_size(data.dtype()), slice_bytes);
  }
  return Status::ok();
}

// ScatterND: output = data with updates[t, ...] combined into slice t.
Status infer_scatter_nd(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(check_inputs(ctx, 3, 3));
  ISKRA_RETURN_IF_ERROR(check_index_input(ctx, 1));
  ISKRA_RETURN_IF_ERROR(read_reduction(ctx.node()).status());
  const Shape& data = ctx.shape(0);
  const Shape& indices = ctx.shape(1);
  if (data.empty() || indices.empty() || indices.back() < 0 || indices.back() > static_cast<int64_t>(data.size()))
    return ctx.error("indices ", shape_to_string(indices), " do not index data ", shape_to_string(data));
  Shape updates(indices.begin(), indices.end() - 1);
  updates.insert(updates.end(), data.begin() + indices.back(), data.end());
  if (ctx.shape(2) != updates || ctx.dtype(2) != ctx.dtype(0))
    return ctx.error("updates ", ctx.input(2).describe(), " must be ", dtype_name(ctx.dtype(0)),
                     shape_to_string(updates));
  ctx.set_output(0, ctx.dtype(0), data);
  return Status::ok();
}

Status run_scatter_nd(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  const Tensor& updates = ctx.input(2);
  Tensor& out = ctx.output(0);
  ISKRA_ASSIGN_OR_RETURN(Reduction r, read_reduction(ctx.node));
  if (out.byte_size()) std::memcpy(out.raw_data(), data.raw_data(), out.byte_size());
  const NdLayout l = nd_layout(data.shape(), indices.shape(), 0);
  auto scatter = [&](auto tag) -> Status {
    using T = decltype(tag);
    T* y = out.data<T>();
    const T* u = updates.data<T>();
    for (int64_t t = 0; t < l.tuples; ++t) {
      ISKRA_ASSIGN_OR_RETURN(int64_t offset, nd_offset(ctx, indices, l, t));
      for (int64_t s = 0; s < l.slice; ++s) y[offset + s] = combine(r, y[offset + s], u[t * l.slice + s]);
    }
    return Status::ok();
  };
  return ISKRA_DISPATCH_ALL(data.dtype(), scatter, ctx.unsupported_error("unsupported dtype"));
}

// ---------------------------------------------------------------------------
// NonZero and Compress: outputs sized by how many elements are nonzero.

// Flat positions of the nonzero elements of `t`, in row-major order.
std::vector<int64_t> nonzero_positions(const Tensor& t) {
  std::vector<int64_t> positions;
  auto scan = [&](auto tag) {
    using T = decltype(tag);
    const T* x = t.data<T>();
    for (int64_t i = 0; i < t.element_count(); ++i)
      if (static_cast<compute_t<T>>(x[i]) != 0) positions.push_back(i);
    return 0;
  };
  ISKRA_DISPATCH_ALL(t.dtype(), scan, 0);
  return positions;
}

// NonZero: i64 [rank, count] coordinates of the nonzero elements (a scalar
// counts as a 1-element vector, as in numpy).
Status infer_nonzero(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(check_inputs(ctx, 1, 1));
  ISKRA_RETURN_IF_ERROR(require_value(ctx, 0));
  const auto count = static_cast<int64_t>(nonzero_positions(ctx.input(0)).size());
  ctx.set_output(0, DType::kI64, {std::max(ctx.rank(0), 1), count});
  return Status::ok();
}

Status run_nonzero(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const std::vector<int64_t> positions = nonzero_positions(x);
  const auto count = static_cast<int64_t>(positions.size());
  const std::vector<int64_t> strides = strides_of(x.shape());
  int64_t* y = ctx.output(0).data<int64_t>();
  for (int64_t j = 0; j < count; ++j) {
    const int64_t p = positions[static_cast<size_t>(j)];
    if (x.rank() == 0) y[j] = 0;
    for (int d = 0; d < x.rank(); ++d) y[d * count + j] = p / strides[static_cast<size_t>(d)] % x.dim(d);
  }
  return Status::ok();
}

// Compress: the slices along `axis` (or elements of the flattened input)
// whose condition entry is true; the condition may be shorter than the axis.
template <typename Ctx>
Result<std::vector<int64_t>> compress_picks(const Ctx& ctx, const Tensor& condition, const AxisView& v) {
  std::vector<int64_t> picks = nonzero_positions(condition);
  if (!picks.empty() && picks.back() >= v.n)
    return ctx.error("condition selects index ", picks.back(), " beyond the axis size ", v.n);
  return picks;
}

std::optional<int> compress_axis(const Node& node, int rank) {
  if (!node.has_attr("axis")) return std::nullopt;
  return ref::normalize_axis(node.attr_int("axis", 0), rank);
}

Status infer_compress(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(check_inputs(ctx, 2, 2));
  if (ctx.dtype(1) != DType::kBool || ctx.rank(1) != 1)
    return ctx.error("condition must be a 1-D bool tensor, got ", ctx.input(1).describe());
  std::optional<int> axis;
  if (ctx.node().has_attr("axis")) {
    ISKRA_ASSIGN_OR_RETURN(axis, axis_in(ctx, ctx.node().attr_int("axis", 0), ctx.rank(0)));
  }
  ISKRA_RETURN_IF_ERROR(require_value(ctx, 1));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> picks,
                         compress_picks(ctx, ctx.input(1), view_around(ctx.shape(0), axis)));
  Shape out{static_cast<int64_t>(picks.size())};
  if (axis) {
    out = ctx.shape(0);
    out[static_cast<size_t>(*axis)] = static_cast<int64_t>(picks.size());
  }
  ctx.set_output(0, ctx.dtype(0), std::move(out));
  return Status::ok();
}

Status run_compress(KernelContext& ctx) {
  const Tensor& in = ctx.input(0);
  const AxisView v = view_around(in.shape(), compress_axis(ctx.node, in.rank()));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> picks, compress_picks(ctx, ctx.input(1), v));
  take_slices(in, v, picks, ctx.output(0));
  return Status::ok();
}

// ---------------------------------------------------------------------------
// OneHot: output[..., d, ...] (d along `axis`) = on if indices[...] == d
// (negative indices count from depth) else off; values = [off, on].

Status infer_one_hot(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(check_inputs(ctx, 3, 3));
  ISKRA_RETURN_IF_ERROR(check_numeric_input(ctx, 0));
  ISKRA_RETURN_IF_ERROR(check_numeric_input(ctx, 1));
  if (ctx.input(1).element_count() != 1) return ctx.error("depth must be a scalar, got ", ctx.input(1).describe());
  if (ctx.input(2).element_count() != 2 || dtype_size(ctx.dtype(2)) == 0)
    return ctx.error("values must hold [off, on], got ", ctx.input(2).describe());
  ISKRA_ASSIGN_OR_RETURN(std::vector<double> depth, ctx.value_doubles(1));
  if (!(depth[0] >= 1 && depth[0] < 0x1p62)) return ctx.error("invalid depth ", depth[0]);
  const int out_rank = ctx.rank(0) + 1;
  ISKRA_ASSIGN_OR_RETURN(int axis, axis_in(ctx, ctx.node().attr_int("axis", -1), out_rank));
  Shape out = ctx.shape(0);
  out.insert(out.begin() + axis, static_cast<int64_t>(depth[0]));
  ctx.set_output(0, ctx.dtype(2), std::move(out));
  return Status::ok();
}

Status run_one_hot(KernelContext& ctx) {
  const Tensor& indices = ctx.input(0);
  Tensor& out = ctx.output(0);
  const int axis = *ref::normalize_axis(ctx.node.attr_int("axis", -1), out.rank());
  const int64_t depth = out.dim(axis);
  const AxisView v = view_around(out.shape(), axis);  // [outer, depth, inner]
  const size_t elem = dtype_size(out.dtype());
  const std::byte* off = bytes(ctx.input(2));
  const std::byte* on = off + elem;
  for (int64_t o = 0; o < v.outer; ++o) {
    for (int64_t i = 0; i < v.inner; ++i) {
      // As in the ONNX reference, only an exact integer in [-depth, depth) selects a position.
      const double raw = tensor_double_at(indices, o * v.inner + i);
      const double index = raw < 0 ? raw + static_cast<double>(depth) : raw;
      const bool valid = index >= 0 && index < static_cast<double>(depth) && index == std::floor(index);
      const int64_t hot = valid ? static_cast<int64_t>(index) : -1;
      for (int64_t d = 0; d < depth; ++d)
        std::memcpy(bytes(out) + static_cast<size_t>((o * depth + d) * v.inner + i) * elem, d == hot ? on : off, elem);
    }
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------
// Unique: distinct elements (or slices along `axis`), sorted ascending or in
// order of first occurrence, with first indices, inverse indices and counts.

struct UniqueResult {
  std::vector<int64_t> firsts;   // index of each unique slice's first occurrence
  std::vector<int64_t> inverse;  // for each input slice, its unique slice
  std::vector<int64_t> counts;
};

// Lexicographic comparison of slices a and b of x viewed as [outer, n, inner].
template <typename T>
int compare_slices(const T* x, const AxisView& v, int64_t a, int64_t b) {
  for (int64_t o = 0; o < v.outer; ++o) {
    for (int64_t i = 0; i < v.inner; ++i) {
      const auto xa = static_cast<compute_t<T>>(x[(o * v.n + a) * v.inner + i]);
      const auto xb = static_cast<compute_t<T>>(x[(o * v.n + b) * v.inner + i]);
      if (total_less(xa, xb)) return -1;
      if (total_less(xb, xa)) return 1;
    }
  }
  return 0;
}

UniqueResult find_unique(const Tensor& x, const AxisView& v, bool sorted) {
  UniqueResult r;
  std::vector<int64_t> order(static_cast<size_t>(v.n));
  std::iota(order.begin(), order.end(), int64_t{0});
  auto sort_slices = [&](auto tag) {
    using T = decltype(tag);
    const T* data = x.data<T>();
    auto cmp = [&](int64_t a, int64_t b) { return compare_slices(data, v, a, b); };
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return cmp(a, b) < 0; });
    r.inverse.assign(order.size(), 0);
    for (size_t j = 0; j < order.size(); ++j) {
      if (j == 0 || cmp(order[j], r.firsts.back()) != 0) {
        r.firsts.push_back(order[j]);  // stable sort: the earliest of its group
        r.counts.push_back(0);
      }
      r.inverse[static_cast<size_t>(order[j])] = static_cast<int64_t>(r.firsts.size()) - 1;
      ++r.counts.back();
    }
    return 0;
  };
  ISKRA_DISPATCH_ALL(x.dtype(), sort_slices, 0);
  if (!sorted) {  // renumber the groups by first occurrence
    std::vector<int64_t> by_first(r.firsts.size());
    std::iota(by_first.begin(), by_first.end(), int64_t{0});
    std::sort(by_first.begin(), by_first.end(), [&](int64_t a, int64_t b) {
      return r.firsts[static_cast<size_t>(a)] < r.firsts[static_cast<size_t>(b)];
    });
    std::vector<int64_t> new_id(by_first.size());
    UniqueResult s;
    for (size_t g = 0; g < by_first.size(); ++g) {
      const auto old = static_cast<size_t>(by_first[g]);
      new_id[old] = static_cast<int64_t>(g);
      s.firsts.push_back(r.firsts[old]);
      s.counts.push_back(r.counts[old]);
    }
    for (int64_t id : r.inverse) s.inverse.push_back(new_id[static_cast<size_t>(id)]);
    r = std::move(s);
  }
  return r;
}

template <typename Ctx>
Result<std::optional<int>> unique_axis(const Ctx& ctx, const Node& node, int rank) {
  if (!node.has_attr("axis")) return std::optional<int>();
  ISKRA_ASSIGN_OR_RETURN(int axis, axis_in(ctx, node.attr_int("axis", 0), rank));
  return std::optional<int>(axis);
}

Status infer_unique(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(check_inputs(ctx, 1, 1));
  ISKRA_ASSIGN_OR_RETURN(std::optional<int> axis, unique_axis(ctx, ctx.node(), ctx.rank(0)));
  ISKRA_RETURN_IF_ERROR(require_value(ctx, 0));
  const AxisView v = view_around(ctx.shape(0), axis);
  const auto count = static_cast<int64_t>(find_unique(ctx.input(0), v, true).firsts.size());
  Shape y{count};
  if (axis) {
    y = ctx.shape(0);
    y[static_cast<size_t>(*axis)] = count;
  }
  ctx.set_output(0, ctx.dtype(0), std::move(y));
  ctx.set_output(1, DType::kI64, {count});
  ctx.set_output(2, DType::kI64, {v.n});
  ctx.set_output(3, DType::kI64, {count});
  return Status::ok();
}

Status run_unique(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  ISKRA_ASSIGN_OR_RETURN(std::optional<int> axis, unique_axis(ctx, ctx.node, x.rank()));
  const AxisView v = view_around(x.shape(), axis);
  const UniqueResult r = find_unique(x, v, ctx.node.attr_int("sorted", 1) != 0);
  take_slices(x, v, r.firsts, ctx.output(0));
  const std::vector<int64_t>* extra[] = {&r.firsts, &r.inverse, &r.counts};
  for (size_t k = 0; k < 3 && k + 1 < ctx.outputs.size(); ++k)
    std::copy(extra[k]->begin(), extra[k]->end(), ctx.output(k + 1).data<int64_t>());
  return Status::ok();
}

// ---------------------------------------------------------------------------
// TopK: the K largest (or smallest) elements along `axis` with their indices,
// sorted; equal values keep the lower index first.

Status infer_top_k(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(check_inputs(ctx, 2, 2));
  ISKRA_RETURN_IF_ERROR(ctx.require_outputs(2));
  ISKRA_RETURN_IF_ERROR(check_numeric_input(ctx, 0));
  if (ctx.dtype(1) != DType::kI64 || ctx.input(1).element_count() != 1)
    return ctx.error("K must be a single int64, got ", ctx.input(1).describe());
  ISKRA_ASSIGN_OR_RETURN(int axis, axis_in(ctx, ctx.node().attr_int("axis", -1), ctx.rank(0)));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> k, ctx.value_ints(1));
  Shape out = ctx.shape(0);
  if (k[0] < 0 || k[0] > out[static_cast<size_t>(axis)])
    return ctx.error("K=", k[0], " is out of range for axis ", axis, " of ", shape_to_string(out));
  out[static_cast<size_t>(axis)] = k[0];
  ctx.set_output(0, ctx.dtype(0), out);
  ctx.set_output(1, DType::kI64, out);
  return Status::ok();
}

Status run_top_k(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  Tensor& values = ctx.output(0);
  int64_t* indices = ctx.output(1).data<int64_t>();
  const int axis = *ref::normalize_axis(ctx.node.attr_int("axis", -1), x.rank());
  const bool largest = ctx.node.attr_int("largest", 1) != 0;
  const AxisView v = view_around(x.shape(), axis);
  const int64_t k = values.dim(axis);
  auto select = [&](auto tag) {
    using T = decltype(tag);
    using C = compute_t<T>;
    const T* in = x.data<T>();
    T* y = values.data<T>();
    std::vector<int64_t> order(static_cast<size_t>(v.n));
    for (int64_t o = 0; o < v.outer; ++o) {
      for (int64_t i = 0; i < v.inner; ++i) {
        auto at = [&](int64_t j) { return static_cast<C>(in[(o * v.n + j) * v.inner + i]); };
        auto before = [&](int64_t a, int64_t b) {
          const C xa = at(a), xb = at(b);
          if (total_less(xa, xb)) return !largest;
          if (total_less(xb, xa)) return largest;
          return a < b;
        };
        std::iota(order.begin(), order.end(), int64_t{0});
        std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
        for (int64_t j = 0; j < k; ++j) {
          const int64_t dst = (o * k + j) * v.inner + i;
          indices[dst] = order[static_cast<size_t>(j)];
          y[dst] = in[(o * v.n + order[static_cast<size_t>(j)]) * v.inner + i];
        }
      }
    }
    return Status::ok();
  };
  return ISKRA_DISPATCH_NUMERIC(x.dtype(), select, ctx.unsupported_error("unsupported dtype"));
}

// ---------------------------------------------------------------------------
// ArgMax / ArgMin: i64 index of the extreme value along `axis`; the first
// one, or the last with select_last_index=1.

Status infer_arg_extreme(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(check_inputs(ctx, 1, 1));
  ISKRA_RETURN_IF_ERROR(check_numeric_input(ctx, 0));
  ISKRA_ASSIGN_OR_RETURN(int axis, axis_in(ctx, ctx.node().attr_int("axis", 0), ctx.rank(0)));
  Shape out = ctx.shape(0);
  if (out[static_cast<size_t>(axis)] == 0) return ctx.error("cannot reduce the empty axis ", axis);
  if (ctx.node().attr_int("keepdims", 1) != 0) out[static_cast<size_t>(axis)] = 1;
  else out.erase(out.begin() + axis);
  ctx.set_output(0, DType::kI64, std::move(out));
  return Status::ok();
}

template <bool kMax>
Status run_arg_extreme(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  int64_t* y = ctx.output(0).data<int64_t>();
  const int axis = *ref::normalize_axis(ctx.node.attr_int("axis", 0), x.rank());
  const bool last = ctx.node.attr_int("select_last_index", 0) != 0;
  const AxisView v = view_around(x.shape(), axis);
  auto search = [&](auto tag) {
    using T = decltype(tag);
    using C = compute_t<T>;
    const T* in = x.data<T>();
    for (int64_t o = 0; o < v.outer; ++o) {
      for (int64_t i = 0; i < v.inner; ++i) {
        int64_t best = 0;
        C best_value = static_cast<C>(in[o * v.n * v.inner + i]);
        for (int64_t j = 1; j < v.n; ++j) {
          const auto value = static_cast<C>(in[(o * v.n + j) * v.inner + i]);
          const bool better = kMax ? value > best_value : value < best_value;
          if (better || (last && value == best_value)) {
            best = j;
            best_value = value;
          }
        }
        y[o * v.inner + i] = best;
      }
    }
    return Status::ok();
  };
  return ISKRA_DISPATCH_NUMERIC(x.dtype(), search, ctx.unsupported_error("unsupported dtype"));
}

// ---------------------------------------------------------------------------
// CumSum / CumProd along the axis given by input 1; `exclusive` leaves out
// the current element, `reverse` scans from the end.

Status infer_cumulative(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(check_inputs(ctx, 2, 2));
  ISKRA_RETURN_IF_ERROR(check_numeric_input(ctx, 0));
  ISKRA_RETURN_IF_ERROR(check_index_input(ctx, 1));
  if (ctx.input(1).element_count() != 1) return ctx.error("axis must be a scalar, got ", ctx.input(1).describe());
  if (ctx.has_value(1)) ISKRA_RETURN_IF_ERROR(axis_in(ctx, tensor_int_at(ctx.input(1), 0), ctx.rank(0)).status());
  ctx.set_output(0, ctx.dtype(0), ctx.shape(0));
  return Status::ok();
}

template <Reduction kOp>
Status run_cumulative(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  Tensor& out = ctx.output(0);
  ISKRA_ASSIGN_OR_RETURN(int axis, axis_in(ctx, tensor_int_at(ctx.input(1), 0), x.rank()));
  const bool exclusive = ctx.node.attr_int("exclusive", 0) != 0;
  const bool reverse = ctx.node.attr_int("reverse", 0) != 0;
  const AxisView v = view_around(x.shape(), axis);
  auto scan = [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    T* y = out.data<T>();
    for (int64_t o = 0; o < v.outer; ++o) {
      for (int64_t i = 0; i < v.inner; ++i) {
        T acc = ref::convert_element<T>(kOp == Reduction::kMul ? 1 : 0);
        for (int64_t step = 0; step < v.n; ++step) {
          const int64_t at = (o * v.n + (reverse ? v.n - 1 - step : step)) * v.inner + i;
          if (exclusive) y[at] = acc;
          acc = combine(kOp, acc, in[at]);
          if (!exclusive) y[at] = acc;
        }
      }
    }
    return Status::ok();
  };
  return ISKRA_DISPATCH_NUMERIC(x.dtype(), scan, ctx.unsupported_error("unsupported dtype"));
}

// ---------------------------------------------------------------------------
// ReverseSequence: for each batch entry b, reverses the first
// sequence_lens[b] steps along time_axis (batch and time axes are 0 and 1).

Status infer_reverse_sequence(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(check_inputs(ctx, 2, 2));
  ISKRA_RETURN_IF_ERROR(check_index_input(ctx, 1));
  const int64_t batch_axis = ctx.node().attr_int("batch_axis", 1), time_axis = ctx.node().attr_int("time_axis", 0);
  if (ctx.rank(0) < 2 || batch_axis + time_axis != 1 || batch_axis * time_axis != 0)
    return ctx.error("needs rank >= 2 and batch_axis/time_axis of 0 and 1, got rank ", ctx.rank(0),
                     ", batch_axis ", batch_axis, ", time_axis ", time_axis);
  if (ctx.rank(1) != 1 || ctx.shape(1)[0] != ctx.shape(0)[static_cast<size_t>(batch_axis)])
    return ctx.error("sequence_lens ", ctx.input(1).describe(), " must have one entry per batch entry");
  ctx.set_output(0, ctx.dtype(0), ctx.shape(0));
  return Status::ok();
}

Status run_reverse_sequence(KernelContext& ctx) {
  const Tensor& in = ctx.input(0);
  Tensor& out = ctx.output(0);
  const bool batch_first = ctx.node.attr_int("batch_axis", 1) == 0;
  const int64_t d0 = in.dim(0), d1 = in.dim(1);
  const int64_t time = batch_first ? d1 : d0;
  const size_t row = static_cast<size_t>(in.element_count() / std::max<int64_t>(d0 * d1, 1)) * dtype_size(in.dtype());
  for (int64_t i0 = 0; i0 < d0; ++i0) {
    for (int64_t i1 = 0; i1 < d1; ++i1) {
      const int64_t b = batch_first ? i0 : i1, t = batch_first ? i1 : i0;
      const int64_t len = tensor_int_at(ctx.input(1), b);
      if (len < 0 || len > time) return ctx.error("sequence length ", len, " is out of range [0, ", time, "]");
      const int64_t src_t = t < len ? len - 1 - t : t;
      const int64_t src = batch_first ? i0 * d1 + src_t : src_t * d1 + i1;
      std::memcpy(bytes(out) + static_cast<size_t>(i0 * d1 + i1) * row, bytes(in) + static_cast<size_t>(src) * row, row);
    }
  }
  return Status::ok();
}

}  // namespace

void register_indexing_ops(OpTable& table) {
  table.add(OpKind::Gather, infer_gather, run_gather);
  table.add(OpKind::GatherElements, infer_gather_elements, run_gather_elements);
  table.add(OpKind::GatherND, infer_gather_nd, run_gather_nd);
  table.add(OpKind::ScatterElements, infer_scatter_elements, run_scatter_elements);
  table.add(OpKind::ScatterND, infer_scatter_nd, run_scatter_nd);
  table.add(OpKind::Compress, infer_compress, run_compress);
  table.add(OpKind::OneHot, infer_one_hot, run_one_hot);
  table.add(OpKind::NonZero, infer_nonzero, run_nonzero);
  table.add(OpKind::Unique, infer_unique, run_unique);
  table.add(OpKind::TopK, infer_top_k, run_top_k);
  table.add(OpKind::ArgMax, infer_arg_extreme, run_arg_extreme<true>);
  table.add(OpKind::ArgMin, infer_arg_extreme, run_arg_extreme<false>);
  table.add(OpKind::CumSum, infer_cumulative, run_cumulative<Reduction::kAdd>);
  table.add(OpKind::CumProd, infer_cumulative, run_cumulative<Reduction::kMul>);
  table.add(OpKind::ReverseSequence, infer_reverse_sequence, run_reverse_sequence);
}

}  // namespace iskra
