// A libFuzzer entry point for one target of fuzz_targets.h; ISKRA_FUZZ_TARGET
// names it (fuzz/CMakeLists.txt builds one binary per target). Any input must
// give a result or an error, never a crash, leak, hang or sanitizer report.
#include <cstddef>
#include <cstdint>

#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  iskra::fuzz::ISKRA_FUZZ_TARGET(data, size, nullptr);
  return 0;
}
