#include "fuzz_targets.h"

#include <memory>
#include <vector>

#include "api/model_loader.h"
#include "base/npy.h"
#include "import/onnx/onnx_tensor_file.h"
#include "import/tflite/tflite_importer.h"
#include "runtime/session.h"

namespace iskra::fuzz {
namespace {

// load_run skips models whose inputs would exceed this many elements (it only plans them):
// the fuzzer looks for crashes, not for slow runs of large tensors.
constexpr int64_t kMaxInputElements = 1 << 16;
// load_run's sessions may hold this much: a graph that asks for more (a Tile or
// Expand to gigabytes) must be refused by the budget, not run for minutes.
constexpr size_t kMemoryLimitBytes = size_t{64} << 20;

bool make_input(const IoInfo& info, Tensor& out) {
  if (info.dtype == DType::kUndefined || info.dtype == DType::kString) return false;
  Shape shape;
  int64_t elements = 1;
  for (const Dim& d : info.shape) {
    const int64_t size = d.is_known() ? d.size : 1;
    shape.push_back(size);
    elements *= size;
    if (size > kMaxInputElements || elements > kMaxInputElements) return false;
  }
  auto t = Tensor::allocate(info.dtype, shape);
  if (!t) return false;
  out = std::move(*t);
  return true;
}

template <typename R>
bool accepted(const R& result, std::string* error) {
  if (result) return true;
  if (error) *error = result.status().message();
  return false;
}

}  // namespace

bool model_import(const uint8_t* data, size_t size, std::string* error) {
  return accepted(load_model_buffer(data, size), error);
}

bool tflite_import(const uint8_t* data, size_t size, std::string* error) {
  return accepted(import_tflite_buffer(data, size), error);
}

bool inputs(const uint8_t* data, size_t size, std::string* error) {
  const bool npy = accepted(parse_npy(data, size, "fuzz.npy"), error);
  const bool pb = accepted(parse_onnx_tensor(data, size, "fuzz.pb"), error);
  return npy || pb;
}

bool load_run(const uint8_t* data, size_t size, std::string* error) {
  auto model = load_model_buffer(data, size);
  if (!accepted(model, error)) return false;
  SessionOptions options;
  options.memory_limit_bytes = kMemoryLimitBytes;
  auto session = Session::create(std::move(*model), options);
  if (!accepted(session, error)) return false;
  std::vector<Tensor> in((*session)->inputs().size());
  for (size_t i = 0; i < in.size(); ++i)
    if (!make_input((*session)->inputs()[i], in[i])) return true;  // planned, not run
  std::vector<Tensor> out;
  const Status status = (*session)->run(in, out);
  if (!status && error) *error = status.message();
  return status.is_ok();
}

Target find_target(std::string_view name) {
  if (name == "fuzz_model_import") return model_import;
  if (name == "fuzz_tflite_import") return tflite_import;
  if (name == "fuzz_inputs") return inputs;
  if (name == "fuzz_load_run") return load_run;
  return nullptr;
}

}  // namespace iskra::fuzz
