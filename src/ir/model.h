// Model: a main graph plus what the file says about itself.
#pragma once

#include <memory>
#include <string>

#include "ir/graph.h"

namespace iskra {

struct ModelInfo {
  std::string format;            // "onnx", "tflite"
  std::string producer;          // e.g. "pytorch 1.13.1"
  int64_t format_version = 0;    // ONNX IR version, TFLite schema version
  int64_t opset = 0;             // default-domain opset (ONNX)
  std::string source_path;       // file it came from, empty for buffers
};

struct Model {
  std::shared_ptr<Graph> graph;
  ModelInfo info;
};

}  // namespace iskra
