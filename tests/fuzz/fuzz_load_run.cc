// libFuzzer target: load a model image, plan it and run it once on small
// inputs (zeros of the declared shapes, unknown dims as 1; models whose inputs
// would exceed kMaxInputElements, or are not numeric, are only planned).
// Exercises shape inference, the passes, the planner and the kernels on
// hostile graphs.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "api/model_loader.h"
#include "runtime/session.h"

namespace {

constexpr int64_t kMaxInputElements = 1 << 16;

bool make_input(const iskra::IoInfo& info, iskra::Tensor& out) {
  if (info.dtype == iskra::DType::kUndefined || info.dtype == iskra::DType::kString) return false;
  iskra::Shape shape;
  int64_t elements = 1;
  for (const iskra::Dim& d : info.shape) {
    const int64_t size = d.is_known() ? d.size : 1;
    shape.push_back(size);
    elements *= size;
    if (size > kMaxInputElements || elements > kMaxInputElements) return false;
  }
  auto t = iskra::Tensor::allocate(info.dtype, shape);
  if (!t) return false;
  out = std::move(*t);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto model = iskra::load_model_buffer(data, size);
  if (!model) return 0;
  auto session = iskra::Session::create(std::move(*model));
  if (!session) return 0;
  std::vector<iskra::Tensor> inputs((*session)->inputs().size());
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!make_input((*session)->inputs()[i], inputs[i])) return 0;
  std::vector<iskra::Tensor> outputs;
  auto status = (*session)->run(inputs, outputs);
  (void)status;
  return 0;
}
