// Fast fp32 kernels of the elementwise ops: unary math and activations
// (Relu, Clip, Sigmoid, Exp, Erf, Pow with exponent 1, 2 or 0.5...), and
// binary arithmetic with numpy broadcasting (Add, Sub, Mul, Div, Max, Min,
// PRelu). Anything else (other dtypes, run-time Clip bounds, other Pow
// exponents, more than two Max/Min inputs) is declined: the reference runs.
//
// Broadcasting is planned once in prepare: the output's dims are collapsed
// into a few loops whose innermost one is a contiguous run in which each
// operand is either a vector (stride 1) or one scalar (stride 0), so every
// pattern of the real models ([N,C,H,W] op [1,C,1,1], op [N,C,1,1], a
// scalar, rows [M,K] op [K]) runs as long SIMD loops.

#ifndef ISKRA_ELEMENTWISE_KERNELS_TYPES
#define ISKRA_ELEMENTWISE_KERNELS_TYPES
#include <algorithm>
#include <cstdint>

#include "kernels/cpu/activation.h"

namespace iskra::cpu {

// A unary op: an activation, or one of the other math functions.
enum class UnaryMath : uint8_t {
  kActivation,
  kExp,
  kSqrt,
  kNeg,
  kAbs,
  kErf,
  kSoftplus,
  kGelu,      // x/2 * (1 + erf(x / sqrt(2)))
  kGeluTanh,  // x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
  kSwish,     // x * sigmoid(alpha x), alpha in act.alpha
  kSquare,    // Pow(x, 2)
  kPowHalf,   // Pow(x, 0.5): sqrt, but +0 for -0 and +inf for -inf as std::pow
};

struct UnaryOp {
  UnaryMath math = UnaryMath::kActivation;
  Activation act;
};

enum class BinaryOp : uint8_t { kAdd, kSub, kMul, kDiv, kMax, kMin, kPRelu };

// The broadcast of a binary op, collapsed: output index (i_0, .., i_{rank-1})
// over `dims` reads a[sum i_k * a_stride[k]] and b[sum i_k * b_stride[k]].
// Strides are 0 on broadcast dims; the innermost ones are 0 or 1.
inline constexpr int kMaxLoopRank = 8;
struct BroadcastLoop {
  int rank = 0;
  int64_t dims[kMaxLoopRank] = {};
  int64_t a_stride[kMaxLoopRank] = {};
  int64_t b_stride[kMaxLoopRank] = {};
};

}  // namespace iskra::cpu
#endif  // ISKRA_ELEMENTWISE_KERNELS_TYPES

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/elementwise_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/cpu/vec_math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace iskra::cpu {
namespace HWY_NAMESPACE {

void RunUnary(const UnaryOp& op, const float* in, float* out, size_t n) {
  const float alpha = op.act.alpha;
  auto apply = [&](auto fn) { Map(out, n, fn, Array{in}); };
  switch (op.math) {
    case UnaryMath::kActivation: return ActivationTransform(op.act, in, out, n);
    case UnaryMath::kExp: return apply([](auto d, auto x) { return StdExp(d, x); });
    case UnaryMath::kSqrt: return apply([](auto, auto x) { return hn::Sqrt(x); });
    case UnaryMath::kNeg: return apply([](auto, auto x) { return hn::Neg(x); });
    case UnaryMath::kAbs: return apply([](auto, auto x) { return hn::Abs(x); });
    case UnaryMath::kErf: return apply([](auto d, auto x) { return Erf(d, x); });
    case UnaryMath::kSoftplus: return apply([](auto d, auto x) { return Softplus(d, x); });
    case UnaryMath::kGelu:
      return apply([](auto d, auto x) {
        const auto half_x = hn::Mul(hn::Set(d, 0.5f), x);
        return hn::MulAdd(half_x, Erf(d, hn::Mul(x, hn::Set(d, 0.70710678118654752f))), half_x);
      });
    case UnaryMath::kGeluTanh:
      return apply([](auto d, auto x) {
        const auto half_x = hn::Mul(hn::Set(d, 0.5f), x);
        const auto cube_term = hn::Mul(hn::Set(d, 0.044715f), hn::Mul(x, hn::Mul(x, x)));
        const auto inner = hn::Mul(hn::Set(d, 0.79788456080286536f), hn::Add(x, cube_term));
        return hn::MulAdd(half_x, FastTanh(d, inner), half_x);
      });
    case UnaryMath::kSwish:
      return apply([=](auto d, auto x) { return hn::Mul(x, Sigmoid(d, hn::Mul(hn::Set(d, alpha), x))); });
    case UnaryMath::kSquare: return apply([](auto, auto x) { return hn::Mul(x, x); });
    case UnaryMath::kPowHalf:
      return apply([](auto d, auto x) {
        return hn::IfThenElse(hn::Eq(x, hn::Set(d, -kInf)), hn::Set(d, kInf), hn::Abs(hn::Sqrt(x)));
      });
  }
}

// Output elements [begin, end) of a broadcast binary op.
template <class Op>
HWY_INLINE void BroadcastRange(const Op& op, const BroadcastLoop& loop, const float* a, const float* b, float* out,
                               int64_t begin, int64_t end) {
  const int inner_axis = loop.rank - 1;
  const int64_t inner = loop.dims[inner_axis];
  const bool a_vector = loop.a_stride[inner_axis] != 0, b_vector = loop.b_stride[inner_axis] != 0;
  // Index of `begin` over the outer dims, and the operands' run starts there.
  int64_t index[kMaxLoopRank] = {};
  int64_t a_run = 0, b_run = 0, run = begin / inner;
  for (int k = inner_axis - 1; k >= 0; --k) {
    index[k] = run % loop.dims[k];
    run /= loop.dims[k];
    a_run += index[k] * loop.a_stride[k];
    b_run += index[k] * loop.b_stride[k];
  }
  int64_t offset = begin % inner;  // within the first run only
  for (int64_t pos = begin; pos < end;) {
    const int64_t len = std::min(inner - offset, end - pos);
    const float* pa = a + a_run + offset * loop.a_stride[inner_axis];
    const float* pb = b + b_run + offset * loop.b_stride[inner_axis];
    const size_t n = static_cast<size_t>(len);
    if (a_vector && b_vector) Map(out + pos, n, op, Array{pa}, Array{pb});
    else if (a_vector) Map(out + pos, n, op, Array{pa}, Broadcast{*pb});
    else if (b_vector) Map(out + pos, n, op, Broadcast{*pa}, Array{pb});
    else Map(out + pos, n, op, Broadcast{*pa}, Broadcast{*pb});
    pos += len;
    offset = 0;
    for (int k = inner_axis - 1; k >= 0; --k) {  // next run: odometer over the outer dims
      a_run += loop.a_stride[k];
      b_run += loop.b_stride[k];
      if (++index[k] < loop.dims[k]) break;
      a_run -= loop.a_stride[k] * loop.dims[k];
      b_run -= loop.b_stride[k] * loop.dims[k];
      index[k] = 0;
    }
  }
}

void RunBinary(BinaryOp op, const BroadcastLoop& loop, const float* a, const float* b, float* out, int64_t begin,
               int64_t end) {
  auto apply = [&](auto fn) { BroadcastRange(fn, loop, a, b, out, begin, end); };
  switch (op) {
    case BinaryOp::kAdd: return apply([](auto, auto x, auto y) { return hn::Add(x, y); });
    case BinaryOp::kSub: return apply([](auto, auto x, auto y) { return hn::Sub(x, y); });
    case BinaryOp::kMul: return apply([](auto, auto x, auto y) { return hn::Mul(x, y); });
    case BinaryOp::kDiv: return apply([](auto, auto x, auto y) { return hn::Div(x, y); });
    // numpy maximum/minimum: a NaN operand gives NaN (x + y is then NaN).
    case BinaryOp::kMax:
      return apply([](auto, auto x, auto y) {
        return hn::IfThenElse(hn::Or(hn::IsNaN(x), hn::IsNaN(y)), hn::Add(x, y), hn::Max(x, y));
      });
    case BinaryOp::kMin:
      return apply([](auto, auto x, auto y) {
        return hn::IfThenElse(hn::Or(hn::IsNaN(x), hn::IsNaN(y)), hn::Add(x, y), hn::Min(x, y));
      });
    case BinaryOp::kPRelu:
      return apply([](auto d, auto x, auto slope) {
        return hn::IfThenElse(hn::Lt(x, hn::Zero(d)), hn::Mul(slope, x), x);
      });
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace iskra::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kernels/cpu/parallel_chunks.h"
#include "kernels/cpu/register.h"

namespace iskra::cpu {

HWY_EXPORT(RunUnary);
HWY_EXPORT(RunBinary);

namespace {

// Work per thread task, in elements: threads only pay off on large tensors
// (a cheap op on 64K floats takes a few microseconds, like a wake-up).
constexpr int64_t kCheapChunk = 32 * 1024;
constexpr int64_t kCostlyChunk = 16 * 1024;  // exp, erf, division per element
constexpr int64_t kChunkAlign = 16;         // a cache line of floats

bool is_f32(const Tensor* t) { return t != nullptr && t->dtype() == DType::kF32; }

bool all_f32(const PrepareContext& ctx, size_t inputs) {
  if (ctx.node.inputs.size() != inputs || ctx.outputs.size() != 1 || ctx.outputs[0].dtype != DType::kF32) return false;
  for (size_t i = 0; i < inputs; ++i)
    if (!is_f32(ctx.inputs[i])) return false;
  return true;
}

class UnaryKernel final : public PreparedKernel {
 public:
  UnaryKernel(UnaryOp op, int64_t min_chunk) : op_(op), min_chunk_(min_chunk) {}

  Status run(KernelContext& ctx) override {
    const float* in = ctx.input(0).data<float>();
    float* out = ctx.output(0).data<float>();
    for_each_chunk(ctx.pool, ctx.output(0).element_count(), min_chunk_, kChunkAlign, [&](int64_t begin, int64_t end) {
      HWY_DYNAMIC_DISPATCH(RunUnary)(op_, in + begin, out + begin, static_cast<size_t>(end - begin));
    });
    return Status::ok();
  }

 private:
  UnaryOp op_;
  int64_t min_chunk_;
};

UnaryOp activation_op(ActivationKind kind, float alpha = 0.0f, float beta = 0.0f) {
  return UnaryOp{UnaryMath::kActivation, Activation{kind, alpha, beta}};
}
UnaryOp math_op(UnaryMath math, float alpha = 0.0f) { return UnaryOp{math, Activation{ActivationKind::kNone, alpha, 0}}; }

// Clip bounds are optional inputs; only constant ones are handled.
std::optional<UnaryOp> clip_op(const PrepareContext& ctx) {
  constexpr float kInfinity = std::numeric_limits<float>::infinity();
  float bound[2] = {-kInfinity, kInfinity};
  for (size_t i = 1; i <= 2; ++i) {
    if (!ctx.has_input(i)) continue;
    if (!ctx.is_constant(i) || !is_f32(ctx.inputs[i]) || ctx.input(i).element_count() != 1) return std::nullopt;
    bound[i - 1] = ctx.input(i).data<float>()[0];
  }
  return activation_op(ActivationKind::kClip, bound[0], bound[1]);
}

// Pow with a constant one-element exponent of 1, 2 or 0.5 (of any numeric dtype).
std::optional<UnaryOp> pow_op(const PrepareContext& ctx) {
  if (!ctx.is_constant(1) || ctx.input(1).element_count() != 1 || ctx.outputs[0].shape != ctx.input(0).shape())
    return std::nullopt;
  const double exponent = tensor_double_at(ctx.input(1), 0);
  if (exponent == 1.0) return activation_op(ActivationKind::kNone);  // a copy
  if (exponent == 2.0) return math_op(UnaryMath::kSquare);
  if (exponent == 0.5) return math_op(UnaryMath::kPowHalf);
  return std::nullopt;
}

std::optional<UnaryOp> unary_op_for(const PrepareContext& ctx) {
  const Node& node = ctx.node;
  switch (node.op) {
    case OpKind::Relu: return activation_op(ActivationKind::kRelu);
    case OpKind::LeakyRelu: return activation_op(ActivationKind::kLeakyRelu, node.attr_float("alpha", 0.01f));
    case OpKind::Sigmoid: return activation_op(ActivationKind::kSigmoid);
    case OpKind::HardSigmoid:
      return activation_op(ActivationKind::kHardSigmoid, node.attr_float("alpha", 0.2f), node.attr_float("beta", 0.5f));
    case OpKind::HardSwish: return activation_op(ActivationKind::kHardSwish);
    case OpKind::Tanh: return activation_op(ActivationKind::kTanh);
    case OpKind::Exp: return math_op(UnaryMath::kExp);
    case OpKind::Sqrt: return math_op(UnaryMath::kSqrt);
    case OpKind::Neg: return math_op(UnaryMath::kNeg);
    case OpKind::Abs: return math_op(UnaryMath::kAbs);
    case OpKind::Erf: return math_op(UnaryMath::kErf);
    case OpKind::Softplus: return math_op(UnaryMath::kSoftplus);
    case OpKind::Swish: return math_op(UnaryMath::kSwish, node.attr_float("alpha", 1.0f));
    case OpKind::Gelu: {
      const std::string approximate = node.attr_string("approximate", "none");
      if (approximate == "none") return math_op(UnaryMath::kGelu);
      if (approximate == "tanh") return math_op(UnaryMath::kGeluTanh);
      return std::nullopt;
    }
    default: return std::nullopt;
  }
}

bool is_costly(const UnaryOp& op) {
  switch (op.math) {
    case UnaryMath::kActivation:
      return op.act.kind == ActivationKind::kSigmoid || op.act.kind == ActivationKind::kTanh ||
             op.act.kind == ActivationKind::kSilu;
    case UnaryMath::kNeg:
    case UnaryMath::kAbs:
    case UnaryMath::kSquare: return false;
    default: return true;
  }
}

Result<std::unique_ptr<PreparedKernel>> prepare_unary(const PrepareContext& ctx) {
  std::optional<UnaryOp> op;
  if (ctx.node.op == OpKind::Clip) {
    if (is_f32(ctx.inputs[0]) && ctx.outputs.size() == 1 && ctx.outputs[0].dtype == DType::kF32) op = clip_op(ctx);
  } else if (ctx.node.op == OpKind::Pow) {
    if (ctx.node.inputs.size() == 2 && is_f32(ctx.inputs[0]) && ctx.outputs[0].dtype == DType::kF32) op = pow_op(ctx);
  } else if (all_f32(ctx, 1)) {
    op = unary_op_for(ctx);
  }
  if (!op) return std::unique_ptr<PreparedKernel>();
  return std::unique_ptr<PreparedKernel>(std::make_unique<UnaryKernel>(*op, is_costly(*op) ? kCostlyChunk : kCheapChunk));
}

// ---------------------------------------------------------------------------
// Binary ops.

// Collapses the broadcast of a and b to `out`: dims of size 1 are dropped and
// neighbours where each operand is either read in full or broadcast alike are
// merged. Fails (nullopt) only past kMaxLoopRank collapsed dims.
std::optional<BroadcastLoop> plan_broadcast(const Shape& a, const Shape& b, const Shape& out) {
  struct Dim {
    int64_t size;
    bool a_full, b_full;
  };
  std::vector<Dim> dims;
  const size_t rank = out.size();
  for (size_t d = 0; d < rank; ++d) {
    if (out[d] == 1) continue;
    const bool a_full = d + a.size() >= rank && a[d + a.size() - rank] == out[d];
    const bool b_full = d + b.size() >= rank && b[d + b.size() - rank] == out[d];
    if (!dims.empty() && dims.back().a_full == a_full && dims.back().b_full == b_full) dims.back().size *= out[d];
    else dims.push_back({out[d], a_full, b_full});
  }
  if (dims.empty()) dims.push_back({1, true, true});  // a single element
  if (dims.size() > static_cast<size_t>(kMaxLoopRank)) return std::nullopt;
  BroadcastLoop loop;
  loop.rank = static_cast<int>(dims.size());
  int64_t a_step = 1, b_step = 1;  // row-major strides of each operand's own elements
  for (int k = loop.rank - 1; k >= 0; --k) {
    const Dim& dim = dims[static_cast<size_t>(k)];
    loop.dims[k] = dim.size;
    loop.a_stride[k] = dim.a_full ? a_step : 0;
    loop.b_stride[k] = dim.b_full ? b_step : 0;
    if (dim.a_full) a_step *= dim.size;
    if (dim.b_full) b_step *= dim.size;
  }
  return loop;
}

class BinaryKernel final : public PreparedKernel {
 public:
  BinaryKernel(BinaryOp op, const BroadcastLoop& loop, int64_t min_chunk) : op_(op), loop_(loop), min_chunk_(min_chunk) {}

  Status run(KernelContext& ctx) override {
    const float* a = ctx.input(0).data<float>();
    const float* b = ctx.input(1).data<float>();
    float* out = ctx.output(0).data<float>();
    for_each_chunk(ctx.pool, ctx.output(0).element_count(), min_chunk_, kChunkAlign, [&](int64_t begin, int64_t end) {
      HWY_DYNAMIC_DISPATCH(RunBinary)(op_, loop_, a, b, out, begin, end);
    });
    return Status::ok();
  }

 private:
  BinaryOp op_;
  BroadcastLoop loop_;
  int64_t min_chunk_;
};

std::optional<BinaryOp> binary_op_for(OpKind op) {
  switch (op) {
    case OpKind::Add: return BinaryOp::kAdd;
    case OpKind::Sub: return BinaryOp::kSub;
    case OpKind::Mul: return BinaryOp::kMul;
    case OpKind::Div: return BinaryOp::kDiv;
    case OpKind::Max: return BinaryOp::kMax;
    case OpKind::Min: return BinaryOp::kMin;
    case OpKind::PRelu: return BinaryOp::kPRelu;
    default: return std::nullopt;
  }
}

Result<std::unique_ptr<PreparedKernel>> prepare_binary(const PrepareContext& ctx) {
  const std::optional<BinaryOp> op = binary_op_for(ctx.node.op);
  if (!op || !all_f32(ctx, 2)) return std::unique_ptr<PreparedKernel>();
  const std::optional<BroadcastLoop> loop = plan_broadcast(ctx.input(0).shape(), ctx.input(1).shape(), ctx.outputs[0].shape);
  if (!loop) return std::unique_ptr<PreparedKernel>();
  const int64_t min_chunk = *op == BinaryOp::kDiv ? kCostlyChunk : kCheapChunk;
  return std::unique_ptr<PreparedKernel>(std::make_unique<BinaryKernel>(*op, *loop, min_chunk));
}

}  // namespace

void register_elementwise_kernels(OpTable& table) {
  for (OpKind op : {OpKind::Relu, OpKind::LeakyRelu, OpKind::Sigmoid, OpKind::HardSigmoid, OpKind::HardSwish,
                    OpKind::Tanh, OpKind::Exp, OpKind::Sqrt, OpKind::Neg, OpKind::Abs, OpKind::Erf, OpKind::Softplus,
                    OpKind::Swish, OpKind::Gelu, OpKind::Clip, OpKind::Pow})
    table.set_prepare(op, prepare_unary);
  for (OpKind op : {OpKind::Add, OpKind::Sub, OpKind::Mul, OpKind::Div, OpKind::Max, OpKind::Min, OpKind::PRelu})
    table.set_prepare(op, prepare_binary);
}

}  // namespace iskra::cpu
#endif  // HWY_ONCE
