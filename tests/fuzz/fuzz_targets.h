// The bodies of the libFuzzer targets, shared by the fuzzer binaries
// (fuzz_main.cc, one per target) and by the test that replays the minimized
// inputs of past findings (test_fuzz_regressions.cc). Each takes any bytes and
// returns whether Iskra accepted them; a rejection's message is in *error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace iskra::fuzz {

// Format sniffing + ONNX / TFLite import of a model image.
bool model_import(const uint8_t* data, size_t size, std::string* error);
// The TFLite importer without sniffing (inputs with a mutated identifier still reach it).
bool tflite_import(const uint8_t* data, size_t size, std::string* error);
// The input readers of `iskra run`: the bytes as .npy, then as an ONNX TensorProto (.pb).
// Accepted when either reader accepts them.
bool inputs(const uint8_t* data, size_t size, std::string* error);
// Load, plan and run once on small inputs (zeros of the declared shapes, unknown dims as 1).
bool load_run(const uint8_t* data, size_t size, std::string* error);

using Target = bool (*)(const uint8_t*, size_t, std::string*);
// The target named `name` (fuzz_model_import, ...), or nullptr.
Target find_target(std::string_view name);

}  // namespace iskra::fuzz
