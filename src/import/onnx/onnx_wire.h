// Fast loading of large ONNX files: before protobuf parses a model, the raw
// weight bytes of the main graph's initializers are cut out of the message
// (their place recorded), so protobuf parses a small message and never copies
// the weights; the importer then copies each weight once, straight from the
// (memory-mapped) file into its tensor.
//
// Only the protobuf wire format is read here: field numbers from onnx.proto
// (ModelProto.graph = 7, GraphProto.initializer = 5, TensorProto.raw_data = 9).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace iskra {

struct SlimOnnxModel {
  std::string bytes;  // the ModelProto without the main graph's initializers' raw_data
  // Per initializer of the main graph, in file order: its raw_data bytes in
  // the original buffer, if it had any.
  std::vector<std::optional<std::span<const uint8_t>>> initializer_raw_data;
};

// nullopt when the buffer is not a well-formed message of the expected shape
// (then parse the original bytes, and protobuf reports what is wrong).
std::optional<SlimOnnxModel> slim_onnx_model(const void* data, size_t size);

}  // namespace iskra
