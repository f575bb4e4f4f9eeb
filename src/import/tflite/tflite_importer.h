// TFLite / LiteRT importer: a .tflite flatbuffer → IR.
//
// The file is checked by the FlatBuffers verifier before anything reads it.
// Constant buffers are used in place (the tensors view the mapped file,
// including buffers stored past the flatbuffer); fp16 and int8 weights behind
// DEQUANTIZE, and sparse weights behind DENSIFY, become float32 constants at
// load. TFLite tensors are channels-last: convolutions and pools are imported
// as the NCHW IR ops between two Transposes, which the layout pass cancels
// (passes/choose_layout.cc); the other ops keep TFLite's axes.
#pragma once

#include <cstddef>
#include <memory>

#include "base/status.h"
#include "ir/model.h"

namespace iskra {

class MappedFile;

// The model's constants view `file`, which they keep alive.
Result<Model> import_tflite_file(std::shared_ptr<MappedFile> file);
// Copies the buffer once (the caller may free it after the call).
Result<Model> import_tflite_buffer(const void* data, size_t size);

}  // namespace iskra
