// libFuzzer target: the TFLite importer on any bytes (the FlatBuffers verifier
// first, then Iskra's own checks and the op converters), without sniffing, so
// inputs whose identifier was mutated still reach it.
#include <cstddef>
#include <cstdint>

#include "import/tflite/tflite_importer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto model = iskra::import_tflite_buffer(data, size);
  (void)model;
  return 0;
}
