// Reference kernels and shape functions: movement ops.
//
// These ops move or replicate elements without arithmetic (Reshape, Transpose,
// Slice, Concat, Pad, ...) or generate small tensors (Shape, Range, EyeLike...).
// Data movement works on raw element bytes, so every stored dtype (bool and
// f16/bf16 included) is supported by the same code. Two routines do all the
// copying: strided_copy (one box of elements between two strided layouts) and
// mapped_copy (an output built from per-dim input index maps, for Pad/Tile).
//
// Several of these ops compute shapes and run at plan time on constant values
// (Shape -> Gather -> Concat -> Reshape chains), so they must handle scalars
// and zero-sized tensors.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "base/checked_math.h"
#include "kernels/kernel.h"
#include "kernels/ref/common.h"

namespace iskra {

namespace {

using ref::strides_of;

// ---------------------------------------------------------------------------
// Shared helpers

// Axis in [-rank, rank) mapped to [0, rank), or an error naming the node.
template <typename Ctx>
Result<int> resolve_axis(const Ctx& ctx, int64_t axis, int rank) {
  auto a = ref::normalize_axis(axis, rank);
  if (!a) return ctx.error("axis ", axis, " is out of range for rank ", rank);
  return *a;
}

// Checks the input count and that inputs [0, required) are present.
Status expect_inputs(const InferContext& ctx, size_t required, size_t max) {
  if (ctx.input_count() < required || ctx.input_count() > max)
    return ctx.error("expects ", required, (required == max ? "" : " to " + std::to_string(max)),
                     " inputs, got ", ctx.input_count());
  for (size_t i = 0; i < required; ++i)
    if (!ctx.has_input(i)) return ctx.error("input ", i, " is required");
  return Status::ok();
}

// Data inputs may be of any dtype Iskra stores, except strings.
Status expect_storable(const InferContext& ctx, size_t i) {
  if (dtype_size(ctx.dtype(i)) == 0)
    return ctx.unsupported_error("input ", i, " of dtype ", dtype_name(ctx.dtype(i)), " is not supported");
  return Status::ok();
}

// Index-like inputs (shape, axes, pads, repeats...): int32 or int64.
Status expect_index_dtype(const InferContext& ctx, size_t i) {
  const DType dt = ctx.dtype(i);
  if (dt != DType::kI64 && dt != DType::kI32)
    return ctx.error("input ", i, " must be int32 or int64, got ", dtype_name(dt));
  return Status::ok();
}

// Product of dims with overflow checking.
template <typename Ctx>
Result<int64_t> checked_count(const Ctx& ctx, std::span<const int64_t> dims) {
  auto n = checked_element_count(dims);
  if (!n) return ctx.error("shape ", shape_to_string(dims), " is invalid or overflows");
  return *n;
}

// The value of an integer input: known at plan time through the InferContext
// (kNeedsValue when not yet), always known in a kernel.
Result<std::vector<int64_t>> input_ints(const InferContext& ctx, size_t i) { return ctx.value_ints(i); }
Result<std::vector<int64_t>> input_ints(const KernelContext& ctx, size_t i) {
  return tensor_to_int64s(ctx.input(i));
}

// Normalizes each axis (duplicates rejected) against `rank`.
template <typename Ctx>
Result<std::vector<int>> resolve_axes(const Ctx& ctx, const std::vector<int64_t>& axes, int rank) {
  std::vector<int> out;
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t a : axes) {
    ISKRA_ASSIGN_OR_RETURN(int axis, resolve_axis(ctx, a, rank));
    if (seen[static_cast<size_t>(axis)]) return ctx.error("axis ", a, " is repeated");
    seen[static_cast<size_t>(axis)] = true;
    out.push_back(axis);
  }
  return out;
}

size_t elem_size(const Tensor& t) { return dtype_size(t.dtype()); }
std::byte* bytes(Tensor& t) { return static_cast<std::byte*>(t.raw_data()); }
const std::byte* bytes(const Tensor& t) { return static_cast<const std::byte*>(t.raw_data()); }

// Copies a box of `shape` elements of `elem` bytes: the element at multi-index
// i is read at element offset src_offset + <i, src_strides> and written at
// dst_offset + <i, dst_strides>. Strides may be 0 (broadcast) or negative.
void strided_copy(const Shape& shape, size_t elem, const std::byte* src, int64_t src_offset,
                  const std::vector<int64_t>& src_strides, std::byte* dst, int64_t dst_offset,
                  const std::vector<int64_t>& dst_strides) {
  const int64_t count = shape_element_count(shape);
  const auto e = static_cast<int64_t>(elem);
  ref::StridedIndexer<2> it(shape, {src_strides, dst_strides});
  for (int64_t n = 0; n < count; ++n, it.next())
    std::memcpy(dst + (dst_offset + it.offset(1)) * e, src + (src_offset + it.offset(0)) * e, elem);
}

// Copies the whole of `in` (contiguous) into `out` (contiguous, same byte size).
void copy_all(const Tensor& in, Tensor& out) {
  if (out.byte_size()) std::memcpy(out.raw_data(), in.raw_data(), out.byte_size());
}

// Writes `in`, viewed as `shape`, with its dims permuted by `perm` into `out`.
void permute_copy(const Tensor& in, const Shape& shape, const std::vector<int>& perm, Tensor& out) {
  const std::vector<int64_t> in_strides = strides_of(shape);
  Shape out_shape(perm.size());
  std::vector<int64_t> src_strides(perm.size());
  for (size_t d = 0; d < perm.size(); ++d) {
    out_shape[d] = shape[static_cast<size_t>(perm[d])];
    src_strides[d] = in_strides[static_cast<size_t>(perm[d])];
  }
  strided_copy(out_shape, elem_size(in), bytes(in), 0, src_strides, bytes(out), 0, strides_of(out_shape));
}

// Fills `count` elements of `elem` bytes with the bytes at `value`.
void fill_elements(std::byte* dst, int64_t count, const std::byte* value, size_t elem) {
  for (int64_t i = 0; i < count; ++i) std::memcpy(dst + static_cast<size_t>(i) * elem, value, elem);
}

// Builds `out` element by element: along dim d, output index o reads input
// index maps[d][o]; a -1 anywhere makes the element a copy of `fill`.
void mapped_copy(const Tensor& in, const std::vector<std::vector<int64_t>>& maps, const std::byte* fill,
                 Tensor& out) {
  const size_t elem = elem_size(in), rank = maps.size();
  const std::vector<int64_t> in_strides = strides_of(in.shape());
  const int64_t count = out.element_count();
  std::vector<int64_t> index(rank, 0);
  std::byte* dst = bytes(out);
  for (int64_t n = 0; n < count; ++n, dst += elem) {
    int64_t src = 0;
    bool filled = false;
    for (size_t d = 0; d < rank; ++d) {
      const int64_t i = maps[d][static_cast<size_t>(index[d])];
      if (i < 0) filled = true;
      src += i * in_strides[d];
    }
    std::memcpy(dst, filled ? fill : bytes(in) + src * static_cast<int64_t>(elem), elem);
    for (size_t d = rank; d-- > 0;) {  // advance the row-major index
      if (++index[d] < out.shape()[d]) break;
      index[d] = 0;
    }
  }
}

// ---------------------------------------------------------------------------
// Reshape family: the output is the input's bytes under another shape.

Status run_copy(KernelContext& ctx) {
  copy_all(ctx.input(0), ctx.output(0));
  return Status::ok();
}

// Reshape: 0 copies the input dim (unless allowzero=1), one -1 is inferred.
Status infer_reshape(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(expect_inputs(ctx, 2, 2));
  ISKRA_RETURN_IF_ERROR(expect_storable(ctx, 0));
  if (ctx.rank(1) != 1) return ctx.error("shape input must be 1-D, got ", ctx.input(1).describe());
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> spec, ctx.value_ints(1));
  const bool allowzero = ctx.node().attr_int("allowzero", 0) != 0;
  const Shape& in = ctx.shape(0);
  Shape out(spec.size());
  std::optional<size_t> inferred;
  int64_t known = 1;
  for (size_t i = 0; i < spec.size(); ++i) {
    int64_t d = spec[i];
    if (d == -1) {
      if (inferred) return ctx.error("shape ", shape_to_string(spec), " has more than one -1");
      inferred = i;
      continue;
    }
    if (d == 0 && !allowzero) {
      if (i >= in.size()) return ctx.error("shape ", shape_to_string(spec), " copies dim ", i,
                                           " that input ", shape_to_string(in), " lacks");
      d = in[i];
    } else if (d < 0) {
      return ctx.error("invalid dim ", d, " in shape ", shape_to_string(spec));
    }
    out[i] = d;
    auto next = checked_mul(known, d);
    if (!next) return ctx.error("shape ", shape_to_string(spec), " overflows");
    known = *next;
  }
  const int64_t count = shape_element_count(in);
  if (inferred) {
    if (known == 0 || count % known != 0)
      return ctx.error("cannot infer the -1 of shape ", shape_to_string(spec), " for input ",
                       shape_to_string(in));
    out[*inferred] = count / known;
  } else if (known != count) {
    return ctx.error("cannot reshape ", shape_to_string(in), " to ", shape_to_string(out));
  }
  ctx.set_output(0, ctx.dtype(0), std::move(out));
  return Status::ok();
}

// Flatten: [prod(dims[:axis]), prod(dims[axis:])], axis in [-rank, rank].
Status infer_flatten(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(expect_inputs(ctx, 1, 1));
  ISKRA_RETURN_IF_ERROR(expect_storable(ctx, 0));
  const Shape& in = ctx.shape(0);
  const int rank = ctx.rank(0);
  int64_t axis = ctx.node().attr_int("axis", 1);
  if (axis < -rank || axis > rank) return ctx.error("axis ", axis, " is out of range for rank ", rank);
  if (axis < 0) axis += rank;
  const std::span<const int64_t> dims(in);
  ISKRA_ASSIGN_OR_RETURN(int64_t outer, checked_count(ctx, dims.first(static_cast<size_t>(axis))));
  ISKRA_ASSIGN_OR_RETURN(int64_t inner, checked_count(ctx, dims.subspan(static_cast<size_t>(axis))));
  ctx.set_output(0, ctx.dtype(0), {outer, inner});
  return Status::ok();
}

// Squeeze: removes the listed size-1 dims (input 1), or all size-1 dims.
Status infer_squeeze(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(expect_inputs(ctx, 1, 2));
  ISKRA_RETURN_IF_ERROR(expect_storable(ctx, 0));
  const Shape& in = ctx.shape(0);
  std::vector<bool> drop(in.size(), false);
  if (ctx.has_input(1)) {
    ISKRA_RETURN_IF_ERROR(expect_index_dtype(ctx, 1));
    ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> values, ctx.value_ints(1));
    ISKRA_ASSIGN_OR_RETURN(std::vector<int> axes, resolve_axes(ctx, values, ctx.rank(0)));
    for (int a : axes) {
      if (in[static_cast<size_t>(a)] != 1)
        return ctx.error("cannot squeeze axis ", a, " of size ", in[static_cast<size_t>(a)]);
      drop[static_cast<size_t>(a)] = true;
    }
  } else {
    for (size_t d = 0; d < in.size(); ++d) drop[d] = in[d] == 1;
  }
  Shape out;
  for (size_t d = 0; d < in.size(); ++d)
    if (!drop[d]) out.push_back(in[d]);
  ctx.set_output(0, ctx.dtype(0), std::move(out));
  return Status::ok();
}

// Unsqueeze: inserts size-1 dims at the axes (input 1) of the output.
Status infer_unsqueeze(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(expect_inputs(ctx, 2, 2));
  ISKRA_RETURN_IF_ERROR(expect_storable(ctx, 0));
  ISKRA_RETURN_IF_ERROR(expect_index_dtype(ctx, 1));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> values, ctx.value_ints(1));
  const Shape& in = ctx.shape(0);
  const int out_rank = ctx.rank(0) + static_cast<int>(values.size());
  ISKRA_ASSIGN_OR_RETURN(std::vector<int> axes, resolve_axes(ctx, values, out_rank));
  std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
  for (int a : axes) inserted[static_cast<size_t>(a)] = true;
  Shape out;
  size_t next_in = 0;
  for (size_t d = 0; d < inserted.size(); ++d) out.push_back(inserted[d] ? 1 : in[next_in++]);
  ctx.set_output(0, ctx.dtype(0), std::move(out));
  return Status::ok();
}

// ---------------------------------------------------------------------------
// Transpose and the block rearrangements built on it.

// The permutation of Transpose: attribute `perm`, or the dims reversed.
template <typename Ctx>
Result<std::vector<int>> transpose_perm(const Ctx& ctx, const Node& node, int rank) {
  std::vector<int64_t> perm(static_cast<size_t>(rank));
  for (int d = 0; d < rank; ++d) perm[static_cast<size_t>(d)] = rank - 1 - d;
  perm = node.attr_ints("perm", perm);
  if (static_cast<int>(perm.size()) != rank)
    return ctx.error("perm ", shape_to_string(perm), " does not match rank ", rank);
  return resolve_axes(ctx, perm, rank);
}

Status infer_transpose(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(expect_inputs(ctx, 1, 1));
  ISKRA_RETURN_IF_ERROR(expect_storable(ctx, 0));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int> perm, transpose_perm(ctx, ctx.node(), ctx.rank(0)));
  Shape out;
  for (int p : perm) out.push_back(ctx.shape(0)[static_cast<size_t>(p)]);
  ctx.set_output(0, ctx.dtype(0), std::move(out));
  return Status::ok();
}

Status run_transpose(KernelContext& ctx) {
  ISKRA_ASSIGN_OR_RETURN(std::vector<int> perm, transpose_perm(ctx, ctx.node, ctx.input(0).rank()));
  permute_copy(ctx.input(0), ctx.input(0).shape(), perm, ctx.output(0));
  return Status::ok();
}

// DepthToSpace / SpaceToDepth on NCHW: a reshape to 6-D, a transpose, and a
// reshape back. These give the 6-D view and permutation of each mode.
struct BlockRearrangement {
  Shape view;
  std::vector<int> perm;
};

// Mode attribute shared by DepthToSpace and SpaceToDepth: true for CRD.
template <typename Ctx>
Result<bool> is_crd_mode(const Ctx& ctx, const Node& node) {
  const std::string mode = node.attr_string("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") return ctx.error("unknown mode '", mode, "'");
  return mode == "CRD";
}

// Validates a DepthToSpace/SpaceToDepth node and returns its blocksize.
Result<int64_t> check_block_op(const InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(expect_inputs(ctx, 1, 1));
  ISKRA_RETURN_IF_ERROR(expect_storable(ctx, 0));
  ISKRA_RETURN_IF_ERROR(is_crd_mode(ctx, ctx.node()).status());
  if (ctx.rank(0) != 4) return ctx.error("input must be 4-D (NCHW), got ", ctx.input(0).describe());
  const int64_t b = ctx.node().attr_int("blocksize", 0);
  if (b <= 0) return ctx.error("blocksize must be positive, got ", b);
  return b;
}

// DepthToSpace: [N, C, H, W] -> [N, C/b², H*b, W*b].
BlockRearrangement depth_to_space(const Shape& in, int64_t b, bool crd) {
  const int64_t n = in[0], c = in[1] / (b * b), h = in[2], w = in[3];
  if (crd) return {{n, c, b, b, h, w}, {0, 1, 4, 2, 5, 3}};
  return {{n, b, b, c, h, w}, {0, 3, 4, 1, 5, 2}};
}

// SpaceToDepth: [N, C, H, W] -> [N, C*b², H/b, W/b].
BlockRearrangement space_to_depth(const Shape& in, int64_t b, bool crd) {
  const Shape view{in[0], in[1], in[2] / b, b, in[3] / b, b};
  if (crd) return {view, {0, 1, 3, 5, 2, 4}};
  return {view, {0, 3, 5, 1, 2, 4}};
}

Status infer_depth_to_space(InferContext& ctx) {
  ISKRA_ASSIGN_OR_RETURN(int64_t b, check_block_op(ctx));
  const Shape& in = ctx.shape(0);
  auto bb = checked_mul(b, b);
  if (!bb || in[1] % *bb != 0)
    return ctx.error("channels ", in[1], " are not divisible by blocksize² (blocksize ", b, ")");
  auto h = checked_mul(in[2], b), w = checked_mul(in[3], b);
  if (!h || !w) return ctx.error("output shape overflows");
  ctx.set_output(0, ctx.dtype(0), {in[0], in[1] / *bb, *h, *w});
  return Status::ok();
}

Status infer_space_to_depth(InferContext& ctx) {
  ISKRA_ASSIGN_OR_RETURN(int64_t b, check_block_op(ctx));
  const Shape& in = ctx.shape(0);
  if (in[2] % b != 0 || in[3] % b != 0)
    return ctx.error("spatial dims ", shape_to_string(in), " are not divisible by blocksize ", b);
  auto bb = checked_mul(b, b);
  auto c = bb ? checked_mul(in[1], *bb) : std::nullopt;
  if (!c) return ctx.error("output shape overflows");
  ctx.set_output(0, ctx.dtype(0), {in[0], *c, in[2] / b, in[3] / b});
  return Status::ok();
}

template <BlockRearrangement (*kRearrange)(const Shape&, int64_t, bool)>
Status run_block_rearrangement(KernelContext& ctx) {
  ISKRA_ASSIGN_OR_RETURN(bool crd, is_crd_mode(ctx, ctx.node));
  const BlockRearrangement r = kRearrange(ctx.input(0).shape(), ctx.node.attr_int("blocksize", 0), crd);
  permute_copy(ctx.input(0), r.view, r.perm, ctx.output(0));
  return Status::ok();
}

// ---------------------------------------------------------------------------
// Concat and Split: copies between a whole tensor and a block along one axis.

// Concat: joins inputs along `axis`; all other dims must match.
Status infer_concat(InferContext& ctx) {
  if (ctx.input_count() == 0) return ctx.error("needs at least one input");
  for (size_t i = 0; i < ctx.input_count(); ++i) {
    if (!ctx.has_input(i)) return ctx.error("input ", i, " is missing");
    ISKRA_RETURN_IF_ERROR(expect_storable(ctx, i));
    if (ctx.dtype(i) != ctx.dtype(0) || ctx.rank(i) != ctx.rank(0))
      return ctx.error("input ", i, " (", ctx.input(i).describe(), ") does not match input 0 (",
                       ctx.input(0).describe(), ")");
  }
  // Concat-1 defaulted axis to 1; later opsets require it.
  ISKRA_ASSIGN_OR_RETURN(int axis, resolve_axis(ctx, ctx.node().attr_int("axis", 1), ctx.rank(0)));
  Shape out = ctx.shape(0);
  for (size_t i = 1; i < ctx.input_count(); ++i) {
    const Shape& s = ctx.shape(i);
    for (size_t d = 0; d < s.size(); ++d) {
      if (static_cast<int>(d) == axis) continue;
      if (s[d] != out[d])
        return ctx.error("input ", i, " shape ", shape_to_string(s), " does not match ",
                         shape_to_string(ctx.shape(0)), " outside axis ", axis);
    }
    auto sum = checked_add(out[static_cast<size_t>(axis)], s[static_cast<size_t>(axis)]);
    if (!sum) return ctx.error("concatenated dim overflows");
    out[static_cast<size_t>(axis)] = *sum;
  }
  ctx.set_output(0, ctx.dtype(0), std::move(out));
  return Status::ok();
}

Status run_concat(KernelContext& ctx) {
  Tensor& out = ctx.output(0);
  const int axis = *ref::normalize_axis(ctx.node.attr_int("axis", 1), out.rank());
  const std::vector<int64_t> out_strides = strides_of(out.shape());
  int64_t offset = 0;  // position along axis
  for (size_t i = 0; i < ctx.input_count(); ++i) {
    const Tensor& in = ctx.input(i);
    strided_copy(in.shape(), elem_size(in), bytes(in), 0, strides_of(in.shape()), bytes(out),
                 offset * out_strides[static_cast<size_t>(axis)], out_strides);
    offset += in.dim(axis);
  }
  return Status::ok();
}

// Split: sizes from input 1, else num_outputs (or the output count) chunks of
// ceil(dim / n) with a smaller last chunk.
Status infer_split(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(expect_inputs(ctx, 1, 2));
  ISKRA_RETURN_IF_ERROR(expect_storable(ctx, 0));
  const auto n = static_cast<int64_t>(ctx.output_count());
  if (n == 0) return ctx.error("needs at least one output");
  ISKRA_ASSIGN_OR_RETURN(int axis, resolve_axis(ctx, ctx.node().attr_int("axis", 0), ctx.rank(0)));
  const int64_t dim = ctx.shape(0)[static_cast<size_t>(axis)];
  std::vector<int64_t> sizes;
  if (ctx.has_input(1)) {
    ISKRA_RETURN_IF_ERROR(expect_index_dtype(ctx, 1));
    ISKRA_ASSIGN_OR_RETURN(sizes, ctx.value_ints(1));
    int64_t total = 0;
    for (int64_t s : sizes) {
      if (s < 0 || !checked_add(total, s)) return ctx.error("invalid split sizes ", shape_to_string(sizes));
      total += s;
    }
    if (static_cast<int64_t>(sizes.size()) != n || total != dim)
      return ctx.error("split sizes ", shape_to_string(sizes), " do not cut a dim of ", dim, " into ", n,
                       " outputs");
  } else {
    if (ctx.node().has_attr("num_outputs") && ctx.node().attr_int("num_outputs", 0) != n)
      return ctx.error("num_outputs=", ctx.node().attr_int("num_outputs", 0), " but the node has ", n,
                       " outputs");
    const int64_t chunk = dim / n + (dim % n != 0);
    const int64_t last = dim - chunk * (n - 1);
    if (last < 0) return ctx.error("cannot split a dim of ", dim, " into ", n, " outputs");
    sizes.assign(static_cast<size_t>(n), chunk);
    sizes.back() = last;
  }
  for (size_t i = 0; i < sizes.size(); ++i) {
    Shape out = ctx.shape(0);
    out[static_cast<size_t>(axis)] = sizes[i];
    ctx.set_output(i, ctx.dtype(0), std::move(out));
  }
  return Status::ok();
}

Status run_split(KernelContext& ctx) {
  const Tensor& in = ctx.input(0);
  const int axis = *ref::normalize_axis(ctx.node.attr_int("axis", 0), in.rank());
  const std::vector<int64_t> in_strides = strides_of(in.shape());
  int64_t offset = 0;  // position along axis
  for (size_t i = 0; i < ctx.outputs.size(); ++i) {
    Tensor& out = ctx.output(i);
    strided_copy(out.shape(), elem_size(in), bytes(in), offset * in_strides[static_cast<size_t>(axis)],
                 in_strides, bytes(out), 0, strides_of(out.shape()));
    offset += out.dim(axis);
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------
// Slice: per-axis start/end/step with numpy-style clamping.

struct SlicePlan {
  Shape out_shape;
  std::vector<int64_t> starts, steps;  // one per input dim
};

// Clamps `v` to [lo, hi] (lo <= hi).
int64_t clamp_to(int64_t v, int64_t lo, int64_t hi) { return std::min(std::max(v, lo), hi); }

template <typename Ctx>
Result<SlicePlan> plan_slice(const Ctx& ctx) {
  const Shape& shape = ctx.input(0).shape();
  const int rank = ctx.input(0).rank();
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> starts, input_ints(ctx, 1));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> ends, input_ints(ctx, 2));
  std::vector<int64_t> axes(starts.size()), steps(starts.size(), 1);
  std::iota(axes.begin(), axes.end(), int64_t{0});
  if (ctx.has_input(3)) {
    ISKRA_ASSIGN_OR_RETURN(axes, input_ints(ctx, 3));
  }
  if (ctx.has_input(4)) {
    ISKRA_ASSIGN_OR_RETURN(steps, input_ints(ctx, 4));
  }
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    return ctx.error("starts, ends, axes and steps must have the same length");
  ISKRA_ASSIGN_OR_RETURN(std::vector<int> dims, resolve_axes(ctx, axes, rank));

  SlicePlan plan{shape, std::vector<int64_t>(shape.size(), 0), std::vector<int64_t>(shape.size(), 1)};
  for (size_t k = 0; k < dims.size(); ++k) {
    const auto d = static_cast<size_t>(dims[k]);
    const int64_t dim = shape[d], step = steps[k];
    if (step == 0) return ctx.error("slice step must not be 0");
    int64_t start = starts[k] < 0 ? starts[k] + dim : starts[k];  // cannot overflow: dim >= 0
    int64_t end = ends[k] < 0 ? ends[k] + dim : ends[k];
    int64_t count = 0;
    if (step > 0) {
      start = clamp_to(start, 0, dim);
      end = clamp_to(end, 0, dim);
      if (end > start) count = 1 + (end - start - 1) / step;
    } else if (dim > 0) {
      start = clamp_to(start, 0, dim - 1);
      end = clamp_to(end, -1, dim - 1);
      const uint64_t magnitude = 0 - static_cast<uint64_t>(step);  // no overflow for INT64_MIN
      if (start > end) count = 1 + static_cast<int64_t>(static_cast<uint64_t>(start - end - 1) / magnitude);
    }
    plan.out_shape[d] = count;
    plan.starts[d] = count > 0 ? start : 0;
    plan.steps[d] = count > 1 ? step : 1;  // a step never taken must not overflow a stride
  }
  return plan;
}

Status infer_slice(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(expect_inputs(ctx, 3, 5));
  ISKRA_RETURN_IF_ERROR(expect_storable(ctx, 0));
  for (size_t i = 1; i < 5; ++i)
    if (ctx.has_input(i)) ISKRA_RETURN_IF_ERROR(expect_index_dtype(ctx, i));
  ISKRA_ASSIGN_OR_RETURN(SlicePlan plan, plan_slice(ctx));
  ctx.set_output(0, ctx.dtype(0), std::move(plan.out_shape));
  return Status::ok();
}

Status run_slice(KernelContext& ctx) {
  ISKRA_ASSIGN_OR_RETURN(SlicePlan plan, plan_slice(ctx));
  const Tensor& in = ctx.input(0);
  Tensor& out = ctx.output(0);
  const std::vector<int64_t> in_strides = strides_of(in.shape());
  std::vector<int64_t> src_strides(in_strides.size());
  int64_t offset = 0;
  for (size_t d = 0; d < in_strides.size(); ++d) {
    offset += plan.starts[d] * in_strides[d];
    src_strides[d] = plan.steps[d] * in_strides[d];
  }
  strided_copy(out.shape(), elem_size(in), bytes(in), offset, src_strides, bytes(out), 0,
               strides_of(out.shape()));
  return Status::ok();
}

// ---------------------------------------------------------------------------
// Expand, Tile, Pad: outputs larger than the input.

// Expand: bidirectional (numpy) broadcast of the input with shape input 1.
Status infer_expand(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(expect_inputs(ctx, 2, 2));
  ISKRA_RETURN_IF_ERROR(expect_storable(ctx, 0));
  ISKRA_RETURN_IF_ERROR(expect_index_dtype(ctx, 1));
  if (ctx.rank(1) != 1) return ctx.error("shape input must be 1-D, got ", ctx.input(1).describe());
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> shape, ctx.value_ints(1));
  for (int64_t d : shape)
    if (d < 0) return ctx.error("invalid dim ", d, " in shape ", shape_to_string(shape));
  auto out = ref::broadcast_shapes(ctx.shape(0), shape);
  if (!out)
    return ctx.error("cannot broadcast ", shape_to_string(ctx.shape(0)), " to ", shape_to_string(shape));
  ctx.set_output(0, ctx.dtype(0), std::move(*out));
  return Status::ok();
}

Status run_expand(KernelContext& ctx) {
  const Tensor& in = ctx.input(0);
  Tensor& out = ctx.output(0);
  strided_copy(out.shape(), elem_size(in), bytes(in), 0, ref::broadcast_strides(in.shape(), out.shape()),
               bytes(out), 0, strides_of(out.shape()));
  return Status::ok();
}

// Tile: dim d repeated repeats[d] times.
Status infer_tile(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(expect_inputs(ctx, 2, 2));
  ISKRA_RETURN_IF_ERROR(expect_storable(ctx, 0));
  ISKRA_RETURN_IF_ERROR(expect_index_dtype(ctx, 1));
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> repeats, ctx.value_ints(1));
  if (static_cast<int>(repeats.size()) != ctx.rank(0))
    return ctx.error("repeats ", shape_to_string(repeats), " do not match rank ", ctx.rank(0));
  Shape out = ctx.shape(0);
  for (size_t d = 0; d < out.size(); ++d) {
    auto n = checked_mul(out[d], repeats[d]);
    if (repeats[d] < 0 || !n) return ctx.error("invalid repeats ", shape_to_string(repeats));
    out[d] = *n;
  }
  ctx.set_output(0, ctx.dtype(0), std::move(out));
  return Status::ok();
}

Status run_tile(KernelContext& ctx) {
  const Tensor& in = ctx.input(0);
  Tensor& out = ctx.output(0);
  if (out.element_count() == 0) return Status::ok();  // a [0, 2^40] output needs no index maps
  std::vector<std::vector<int64_t>> maps(static_cast<size_t>(in.rank()));
  for (size_t d = 0; d < maps.size(); ++d)
    for (int64_t o = 0; o < out.shape()[d]; ++o) maps[d].push_back(o % in.shape()[d]);
  mapped_copy(in, maps, nullptr, out);
  return Status::ok();
}

// Pad: per-axis begin/end pads (negative pads crop); modes constant, reflect
// (mirror without repeating the edge), edge (repeat the edge), wrap (periodic).
enum class PadMode { kConstant, kReflect, kEdge, kWrap };

struct PadPlan {
  PadMode mode = PadMode::kConstant;
  std::vector<int64_t> begin;  // per input dim
  Shape out_shape;
};

template <typename Ctx>
Result<PadPlan> plan_pad(const Ctx& ctx, const Node& node) {
  const Shape& shape = ctx.input(0).shape();
  const int rank = ctx.input(0).rank();
  PadPlan plan;
  const std::string mode = node.attr_string("mode", "constant");
  if (mode == "constant") plan.mode = PadMode::kConstant;
  else if (mode == "reflect") plan.mode = PadMode::kReflect;
  else if (mode == "edge") plan.mode = PadMode::kEdge;
  else if (mode == "wrap") plan.mode = PadMode::kWrap;
  else return ctx.error("unknown pad mode '", mode, "'");

  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> pads, input_ints(ctx, 1));
  std::vector<int64_t> axes(static_cast<size_t>(rank));
  std::iota(axes.begin(), axes.end(), int64_t{0});
  if (ctx.has_input(3)) {
    ISKRA_ASSIGN_OR_RETURN(axes, input_ints(ctx, 3));
  }
  ISKRA_ASSIGN_OR_RETURN(std::vector<int> dims, resolve_axes(ctx, axes, rank));
  if (pads.size() != 2 * dims.size())
    return ctx.error("pads ", shape_to_string(pads), " must hold 2 values per padded axis (", dims.size(), ")");

  plan.begin.assign(shape.size(), 0);
  plan.out_shape = shape;
  for (size_t k = 0; k < dims.size(); ++k) {
    const auto d = static_cast<size_t>(dims[k]);
    const int64_t b = pads[k], e = pads[k + dims.size()];
    auto with_begin = checked_add(shape[d], b);
    auto total = with_begin ? checked_add(*with_begin, e) : std::nullopt;
    if (!total || *total < 0) return ctx.error("pads ", shape_to_string(pads), " are invalid for ", shape_to_string(shape));
    if (plan.mode != PadMode::kConstant && shape[d] == 0 && *total > 0)
      return ctx.error("cannot ", mode, "-pad the empty axis ", d);
    plan.begin[d] = b;
    plan.out_shape[d] = *total;
  }
  return plan;
}

// Input index read by output index `o` along one dim of size n; -1 = constant.
int64_t pad_source_index(PadMode mode, int64_t o, int64_t begin, int64_t n) {
  const int64_t i = o - begin;
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case PadMode::kConstant: return -1;
    case PadMode::kEdge: return i < 0 ? 0 : n - 1;
    case PadMode::kWrap: return (i % n + n) % n;
    case PadMode::kReflect: {
      if (n == 1) return 0;
      const int64_t period = 2 * (n - 1);
      const int64_t r = (i % period + period) % period;
      return r < n ? r : period - r;
    }
  }
  return -1;
}

Status infer_pad(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(expect_inputs(ctx, 2, 4));
  ISKRA_RETURN_IF_ERROR(expect_storable(ctx, 0));
  ISKRA_RETURN_IF_ERROR(expect_index_dtype(ctx, 1));
  if (ctx.has_input(3)) ISKRA_RETURN_IF_ERROR(expect_index_dtype(ctx, 3));
  if (ctx.has_input(2) && (ctx.dtype(2) != ctx.dtype(0) || ctx.input(2).element_count() != 1))
    return ctx.error("constant_value must be one ", dtype_name(ctx.dtype(0)), " element, got ",
                     ctx.input(2).describe());
  ISKRA_ASSIGN_OR_RETURN(PadPlan plan, plan_pad(ctx, ctx.node()));
  ctx.set_output(0, ctx.dtype(0), std::move(plan.out_shape));
  return Status::ok();
}

Status run_pad(KernelContext& ctx) {
  ISKRA_ASSIGN_OR_RETURN(PadPlan plan, plan_pad(ctx, ctx.node));
  const Tensor& in = ctx.input(0);
  Tensor& out = ctx.output(0);
  if (out.element_count() == 0) return Status::ok();  // a [0, 2^40] output needs no index maps
  std::vector<std::vector<int64_t>> maps(plan.begin.size());
  for (size_t d = 0; d < maps.size(); ++d)
    for (int64_t o = 0; o < out.shape()[d]; ++o)
      maps[d].push_back(pad_source_index(plan.mode, o, plan.begin[d], in.shape()[d]));
  const std::byte zero[8] = {};
  mapped_copy(in, maps, ctx.has_input(2) ? bytes(ctx.input(2)) : zero, out);
  return Status::ok();
}

// ---------------------------------------------------------------------------
// Shape, Size, ConstantOfShape, Range, EyeLike, Trilu.

// Shape: the input's dims [start, end) (negative = from the back, clamped) as i64.
std::pair<int64_t, int64_t> shape_bounds(const Node& node, int64_t rank) {
  auto clamp_dim = [rank](int64_t v) { return clamp_to(v < 0 ? v + rank : v, 0, rank); };
  const int64_t start = clamp_dim(node.attr_int("start", 0));
  const int64_t end = clamp_dim(node.attr_int("end", rank));
  return {start, std::max(start, end)};
}

Status infer_shape(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(expect_inputs(ctx, 1, 1));
  auto [start, end] = shape_bounds(ctx.node(), ctx.rank(0));
  ctx.set_output(0, DType::kI64, {end - start});
  return Status::ok();
}

Status run_shape(KernelContext& ctx) {
  const Shape& in = ctx.input(0).shape();
  auto [start, end] = shape_bounds(ctx.node, static_cast<int64_t>(in.size()));
  std::copy(in.begin() + start, in.begin() + end, ctx.output(0).data<int64_t>());
  return Status::ok();
}

// Size: the element count as an i64 scalar.
Status infer_size(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(expect_inputs(ctx, 1, 1));
  ctx.set_output(0, DType::kI64, {});
  return Status::ok();
}

Status run_size(KernelContext& ctx) {
  *ctx.output(0).data<int64_t>() = ctx.input(0).element_count();
  return Status::ok();
}

// ConstantOfShape: a tensor of shape input 0 filled with attribute `value`
// (a one-element tensor; default f32 0).
Status infer_constant_of_shape(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(expect_inputs(ctx, 1, 1));
  ISKRA_RETURN_IF_ERROR(expect_index_dtype(ctx, 0));
  if (ctx.rank(0) != 1) return ctx.error("shape input must be 1-D, got ", ctx.input(0).describe());
  ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> shape, ctx.value_ints(0));
  ISKRA_RETURN_IF_ERROR(checked_count(ctx, shape).status());
  DType dtype = DType::kF32;
  if (const Tensor* value = ctx.node().attr_tensor("value")) {
    if (value->element_count() != 1 || dtype_size(value->dtype()) == 0)
      return ctx.error("attribute value must be a one-element tensor, got ", value->describe());
    dtype = value->dtype();
  }
  ctx.set_output(0, dtype, std::move(shape));
  return Status::ok();
}

Status run_constant_of_shape(KernelContext& ctx) {
  Tensor& out = ctx.output(0);
  const std::byte zero[8] = {};
  const Tensor* value = ctx.node.attr_tensor("value");
  fill_elements(bytes(out), out.element_count(), value ? bytes(*value) : zero, elem_size(out));
  return Status::ok();
}

// Range: start + i * delta for i < max(ceil((limit - start) / delta), 0).
// Integer types are counted exactly in int64, the others in double.
Result<int64_t> range_count(const InferContext& ctx) {
  if (dtype_is_integer(ctx.dtype(0))) {
    ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> start, ctx.value_ints(0));
    ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> limit, ctx.value_ints(1));
    ISKRA_ASSIGN_OR_RETURN(std::vector<int64_t> delta, ctx.value_ints(2));
    const int64_t d = delta[0];
    int64_t diff = 0;
    if (d == 0) return ctx.error("delta must not be 0");
    if (__builtin_sub_overflow(limit[0], start[0], &diff) || diff == std::numeric_limits<int64_t>::min())
      return ctx.error("range is too large");
    if (diff == 0 || (diff > 0) != (d > 0)) return int64_t{0};
    return diff / d + (diff % d != 0);
  }
  ISKRA_ASSIGN_OR_RETURN(std::vector<double> start, ctx.value_doubles(0));
  ISKRA_ASSIGN_OR_RETURN(std::vector<double> limit, ctx.value_doubles(1));
  ISKRA_ASSIGN_OR_RETURN(std::vector<double> delta, ctx.value_doubles(2));
  const double n = std::ceil((limit[0] - start[0]) / delta[0]);
  if (delta[0] == 0 || std::isnan(n) || n > 0x1p62)
    return ctx.error("invalid range: start ", start[0], ", limit ", limit[0], ", delta ", delta[0]);
  return n > 0 ? static_cast<int64_t>(n) : int64_t{0};
}

Status infer_range(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(expect_inputs(ctx, 3, 3));
  const DType dtype = ctx.dtype(0);
  if (!dtype_is_integer(dtype) && !dtype_is_float(dtype))
    return ctx.unsupported_error("Range of ", dtype_name(dtype), " is not supported");
  for (size_t i = 0; i < 3; ++i)
    if (ctx.dtype(i) != dtype || ctx.input(i).element_count() != 1)
      return ctx.error("input ", i, " must be a ", dtype_name(dtype), " scalar, got ", ctx.input(i).describe());
  ISKRA_ASSIGN_OR_RETURN(int64_t count, range_count(ctx));
  ctx.set_output(0, dtype, {count});
  return Status::ok();
}

Status run_range(KernelContext& ctx) {
  Tensor& out = ctx.output(0);
  auto fill = [&](auto tag) {
    using T = decltype(tag);
    T* y = out.data<T>();
    for (int64_t i = 0; i < out.element_count(); ++i) {
      if constexpr (std::is_integral_v<T>)
        y[i] = static_cast<T>(tensor_int_at(ctx.input(0), 0) + i * tensor_int_at(ctx.input(2), 0));
      else
        y[i] = ref::convert_element<T>(tensor_double_at(ctx.input(0), 0) +
                                       static_cast<double>(i) * tensor_double_at(ctx.input(2), 0));
    }
    return Status::ok();
  };
  return ISKRA_DISPATCH_NUMERIC(out.dtype(), fill,
                                ctx.unsupported_error("Range of ", dtype_name(out.dtype()), " is not supported"));
}

// EyeLike: a 2-D tensor (dtype attribute, else the input's) with ones on the
// k-th diagonal and zeros elsewhere.
Status infer_eye_like(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(expect_inputs(ctx, 1, 1));
  if (ctx.rank(0) != 2) return ctx.error("input must be 2-D, got ", ctx.input(0).describe());
  const auto dtype = static_cast<DType>(ctx.node().attr_int("dtype", static_cast<int64_t>(ctx.dtype(0))));
  if (!dtype_is_supported(dtype) || dtype == DType::kString)
    return ctx.unsupported_error("EyeLike of dtype ", static_cast<int>(dtype), " is not supported");
  ctx.set_output(0, dtype, ctx.shape(0));
  return Status::ok();
}

Status run_eye_like(KernelContext& ctx) {
  Tensor& out = ctx.output(0);
  const int64_t rows = out.dim(0), cols = out.dim(1), k = ctx.node.attr_int("k", 0);
  auto fill = [&](auto tag) {
    using T = decltype(tag);
    T* y = out.data<T>();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) y[r * cols + c] = ref::convert_element<T>(c - r == k ? 1 : 0);
    return Status::ok();
  };
  return ISKRA_DISPATCH_ALL(out.dtype(), fill,
                            ctx.unsupported_error("EyeLike of ", dtype_name(out.dtype()), " is not supported"));
}

// Trilu: keeps the upper (j - i >= k) or lower (j - i <= k) triangle of the
// last two dims and zeroes the rest.
Status infer_trilu(InferContext& ctx) {
  ISKRA_RETURN_IF_ERROR(expect_inputs(ctx, 1, 2));
  ISKRA_RETURN_IF_ERROR(expect_storable(ctx, 0));
  if (ctx.rank(0) < 2) return ctx.error("input must have rank >= 2, got ", ctx.input(0).describe());
  if (ctx.has_input(1) && (ctx.dtype(1) != DType::kI64 || ctx.input(1).element_count() != 1))
    return ctx.error("k must be an int64 scalar, got ", ctx.input(1).describe());
  ctx.set_output(0, ctx.dtype(0), ctx.shape(0));
  return Status::ok();
}

Status run_trilu(KernelContext& ctx) {
  const Tensor& in = ctx.input(0);
  Tensor& out = ctx.output(0);
  const int64_t k = ctx.has_input(1) ? tensor_int_at(ctx.input(1), 0) : 0;
  const bool upper = ctx.node.attr_int("upper", 1) != 0;
  const int64_t rows = in.dim(in.rank() - 2), cols = in.dim(in.rank() - 1);
  const size_t elem = elem_size(in);
  const std::byte* src = bytes(in);
  std::byte* dst = bytes(out);
  for (int64_t n = 0; n < in.element_count(); ++n, src += elem, dst += elem) {
    const int64_t c = n % cols, r = n / cols % rows;
    const bool keep = upper ? c - r >= k : c - r <= k;
    if (keep) std::memcpy(dst, src, elem);
    else std::memset(dst, 0, elem);
  }
  return Status::ok();
}

}  // namespace

void register_movement_ops(OpTable& table) {
  table.add(OpKind::Reshape, infer_reshape, run_copy);
  table.add(OpKind::Flatten, infer_flatten, run_copy);
  table.add(OpKind::Squeeze, infer_squeeze, run_copy);
  table.add(OpKind::Unsqueeze, infer_unsqueeze, run_copy);
  table.add(OpKind::Transpose, infer_transpose, run_transpose);
  table.add(OpKind::DepthToSpace, infer_depth_to_space, run_block_rearrangement<depth_to_space>);
  table.add(OpKind::SpaceToDepth, infer_space_to_depth, run_block_rearrangement<space_to_depth>);
  table.add(OpKind::Concat, infer_concat, run_concat);
  table.add(OpKind::Split, infer_split, run_split);
  table.add(OpKind::Slice, infer_slice, run_slice);
  table.add(OpKind::Expand, infer_expand, run_expand);
  table.add(OpKind::Tile, infer_tile, run_tile);
  table.add(OpKind::Pad, infer_pad, run_pad);
  table.add(OpKind::Shape, infer_shape, run_shape);
  table.add(OpKind::Size, infer_size, run_size);
  table.add(OpKind::ConstantOfShape, infer_constant_of_shape, run_constant_of_shape);
  table.add(OpKind::Range, infer_range, run_range);
  table.add(OpKind::EyeLike, infer_eye_like, run_eye_like);
  table.add(OpKind::Trilu, infer_trilu, run_trilu);
}

}  // namespace iskra
