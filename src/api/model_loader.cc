#include "api/model_loader.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "base/mapped_file.h"
#include "import/onnx/onnx_importer.h"
#include "import/tflite/tflite_importer.h"

namespace iskra {

ModelFormat sniff_model_format(const void* data, size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  // TFLite: flatbuffer with the file identifier "TFL3" at offset 4.
  if (size >= 8 && std::memcmp(bytes + 4, "TFL3", 4) == 0) return ModelFormat::kTflite;
  // ONNX ModelProto: a protobuf whose first field is one of ModelProto's
  // (ir_version = 1 varint → 0x08; producer_name = 2 → 0x12; graph = 7 → 0x3a;
  // opset_import = 8 → 0x42; ...).
  if (size >= 2) {
    const unsigned char tag = bytes[0];
    const unsigned field = tag >> 3, wire = tag & 7;
    const bool varint_field = field == 1 || field == 5;
    const bool bytes_field = field == 2 || field == 3 || field == 4 || field == 6 || field == 7 || field == 8 ||
                             field == 14 || field == 20 || field == 25;
    if ((varint_field && wire == 0) || (bytes_field && wire == 2)) return ModelFormat::kOnnx;
  }
  return ModelFormat::kUnknown;
}

const char* model_format_name(ModelFormat format) {
  switch (format) {
    case ModelFormat::kOnnx: return "onnx";
    case ModelFormat::kTflite: return "tflite";
    case ModelFormat::kUnknown: break;
  }
  return "unknown";
}

Result<Model> load_model_file(const std::string& path) {
  ISKRA_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, MappedFile::open(path));
  switch (sniff_model_format(file->data(), file->size())) {
    case ModelFormat::kOnnx: return import_onnx_file(*file);
    case ModelFormat::kTflite: return import_tflite_file(std::move(file));
    case ModelFormat::kUnknown: break;
  }
  return invalid_model(path, ": not a model file Iskra recognizes (expected ONNX or TFLite content)");
}

Result<Model> load_model_buffer(const void* data, size_t size) {
  if (!data && size) return invalid_argument("null model buffer");
  switch (sniff_model_format(data, size)) {
    case ModelFormat::kOnnx: return import_onnx_buffer(data, size, "");
    case ModelFormat::kTflite: return import_tflite_buffer(data, size);
    case ModelFormat::kUnknown: break;
  }
  return invalid_model("buffer is not a model Iskra recognizes (expected ONNX or TFLite content)");
}

}  // namespace iskra
