// Reference kernels and shape functions: loss ops (NegativeLogLikelihoodLoss,
// SoftmaxCrossEntropyLoss), used by exported training graphs run for inference.
#include <cmath>

#include "kernels/kernel.h"
#include "kernels/ref/common.h"

namespace iskra {

namespace {

// Shape of the unreduced loss: input [N, C, d1..dk] → [N, d1..dk].
Result<Shape> loss_shape(const InferContext& ctx) {
  const Shape& x = ctx.shape(0);
  const Shape& target = ctx.shape(1);
  if (x.size() < 2) return ctx.error("input must have rank >= 2 ([N, C, ...]), got ", shape_to_string(x));
  Shape expected = x;
  expected.erase(expected.begin() + 1);
  if (target != expected)
    return ctx.error("target shape ", shape_to_string(target), " must be ", shape_to_string(expected));
  if (!dtype_is_integer(ctx.dtype(1))) return ctx.error("target must be an integer tensor");
  if (ctx.has_input(2) && ctx.shape(2) != Shape{x[1]})
    return ctx.error("weight must have shape [", x[1], "], got ", shape_to_string(ctx.shape(2)));
  return expected;
}

Status infer_loss(InferContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.error("needs the input and target inputs");
  if (!dtype_is_float(ctx.dtype(0))) return ctx.unsupported_error("input must be a float tensor");
  ISKRA_ASSIGN_OR_RETURN(Shape unreduced, loss_shape(ctx));
  const std::string reduction = ctx.node().attr_string("reduction", "mean");
  if (reduction != "none" && reduction != "sum" && reduction != "mean")
    return ctx.error("unknown reduction '", reduction, "'");
  ctx.set_output(0, ctx.dtype(0), reduction == "none" ? unreduced : Shape{});
  if (ctx.output_count() > 1) ctx.set_output(1, ctx.dtype(0), ctx.shape(0));  // SCE log_prob
  return Status::ok();
}

// Negative log-likelihood of `log_prob` [N, C, D] (D = product of trailing
// dims) at the target classes, weighted, ignored entries contributing 0; then
// reduced. Mean divides by the total weight of the entries not ignored.
template <typename T>
Status nll_from_log_prob(const KernelContext& ctx, const T* log_prob, const Shape& shape, Tensor& out) {
  using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const Tensor& target = ctx.input(1);
  const int64_t n = shape[0], classes = shape[1];
  const int64_t d = shape_element_count(shape) / std::max<int64_t>(n * classes, 1);
  const bool has_ignore = ctx.node.has_attr("ignore_index");
  const int64_t ignore = ctx.node.attr_int("ignore_index", 0);
  const std::string reduction = ctx.node.attr_string("reduction", "mean");
  const Tensor* weight = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  C total = 0, total_weight = 0;
  T* dst = out.data<T>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) {
      const int64_t t = tensor_int_at(target, i * d + j);
      C loss = 0, w = 0;
      if (!(has_ignore && t == ignore)) {
        if (t < 0 || t >= classes) return ctx.error("target ", t, " is outside [0, ", classes, ")");
        w = weight ? static_cast<C>(tensor_double_at(*weight, t)) : C(1);
        loss = -static_cast<C>(log_prob[(i * classes + t) * d + j]) * w;
      }
      if (reduction == "none") dst[i * d + j] = ref::convert_element<T>(loss);
      total += loss;
      total_weight += w;
    }
  }
  if (reduction == "sum") dst[0] = ref::convert_element<T>(total);
  if (reduction == "mean") dst[0] = ref::convert_element<T>(total_weight == 0 ? C(0) : total / total_weight);
  return Status::ok();
}

Status run_nll_loss(KernelContext& ctx) {
  auto body = [&](auto tag) -> Status {
    using T = decltype(tag);
    return nll_from_log_prob<T>(ctx, ctx.input(0).data<T>(), ctx.input(0).shape(), ctx.output(0));
  };
  return ISKRA_DISPATCH_FLOAT(ctx.input(0).dtype(), body, ctx.unsupported_error("unsupported dtype"));
}

// log_softmax over axis 1 of scores [N, C, D...], then NLL.
Status run_softmax_cross_entropy(KernelContext& ctx) {
  auto body = [&](auto tag) -> Status {
    using T = decltype(tag);
    using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
    const Tensor& scores = ctx.input(0);
    const int64_t n = scores.dim(0), classes = scores.dim(1);
    const int64_t d = scores.element_count() / std::max<int64_t>(n * classes, 1);
    // The log_prob output is optional; without it, use a scratch tensor.
    Tensor scratch;
    if (ctx.outputs.size() < 2) {
      ISKRA_ASSIGN_OR_RETURN(scratch, Tensor::allocate(scores.dtype(), scores.shape()));
    }
    Tensor& log_prob = ctx.outputs.size() < 2 ? scratch : ctx.output(1);
    const T* x = scores.data<T>();
    T* lp = log_prob.data<T>();
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < d; ++j) {
        auto at = [&](int64_t c) { return (i * classes + c) * d + j; };
        C max_v = -INFINITY;
        for (int64_t c = 0; c < classes; ++c) max_v = std::max(max_v, static_cast<C>(x[at(c)]));
        C sum = 0;
        for (int64_t c = 0; c < classes; ++c) sum += std::exp(static_cast<C>(x[at(c)]) - max_v);
        const C log_sum = std::log(sum);
        for (int64_t c = 0; c < classes; ++c) lp[at(c)] = ref::convert_element<T>(static_cast<C>(x[at(c)]) - max_v - log_sum);
      }
    }
    return nll_from_log_prob<T>(ctx, lp, scores.shape(), ctx.output(0));
  };
  return ISKRA_DISPATCH_FLOAT(ctx.input(0).dtype(), body, ctx.unsupported_error("unsupported dtype"));
}

}  // namespace

void register_loss_ops(OpTable& table) {
  table.add(OpKind::NegativeLogLikelihoodLoss, infer_loss, run_nll_loss);
  table.add(OpKind::SoftmaxCrossEntropyLoss, infer_loss, run_softmax_cross_entropy);
}

}  // namespace iskra
