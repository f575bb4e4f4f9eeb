// libFuzzer target: the input-file readers of `iskra run`: a .npy image, and
// the same bytes as a serialized ONNX TensorProto (.pb, external data refused).
#include <cstddef>
#include <cstdint>

#include "base/npy.h"
#include "import/onnx/onnx_tensor_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto npy = iskra::parse_npy(data, size, "fuzz.npy");
  (void)npy;
  auto pb = iskra::parse_onnx_tensor(data, size, "fuzz.pb");
  (void)pb;
  return 0;
}
