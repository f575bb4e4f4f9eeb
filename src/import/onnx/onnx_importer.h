// ONNX importer: ModelProto → IR. Every opset difference ends here: the IR
// sees each op in the form of the newest opset.
#pragma once

#include <cstddef>
#include <string>

#include "base/status.h"
#include "ir/model.h"

namespace iskra {

class MappedFile;

// Loads a .onnx file; external data files are resolved relative to its folder
// and may not escape it.
Result<Model> import_onnx_file(const std::string& path);
Result<Model> import_onnx_file(const MappedFile& file);
// Loads a serialized ModelProto from memory. External data, if any, is
// resolved against `base_dir` (empty: external data is refused).
Result<Model> import_onnx_buffer(const void* data, size_t size, const std::string& base_dir);

}  // namespace iskra
