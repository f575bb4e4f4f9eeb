// libFuzzer target: format sniffing and import of a model image (ONNX or
// TFLite, whichever the bytes say). Any input must give a model or an error,
// never a crash, leak or sanitizer report.
#include <cstddef>
#include <cstdint>

#include "api/model_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto model = iskra::load_model_buffer(data, size);
  (void)model;
  return 0;
}
