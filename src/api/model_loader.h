// Format sniffing and dispatch to the importers.
#pragma once

#include <cstddef>
#include <string>

#include "base/status.h"
#include "ir/model.h"

namespace iskra {

enum class ModelFormat { kUnknown, kOnnx, kTflite };

// Decides the format from the first bytes (never from the file name).
ModelFormat sniff_model_format(const void* data, size_t size);
const char* model_format_name(ModelFormat format);

Result<Model> load_model_file(const std::string& path);
Result<Model> load_model_buffer(const void* data, size_t size);

}  // namespace iskra
