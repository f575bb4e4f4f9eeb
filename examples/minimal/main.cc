// The smallest app: load a model, feed it a tensor, read an output (the README's snippet).
//   minimal face_detection_short_range.tflite
#include <cstdio>
#include <vector>
#include "iskra/iskra.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: minimal face_detection_short_range.tflite\n");
    return 2;
  }
  try {
    // The format (.onnx, .tflite) is recognized from the file's content.
    iskra::Model model = iskra::Model::load(argv[1], {.threads = 2});
    for (const iskra::IoInfo& in : model.inputs()) std::printf("input %s\n", in.name.c_str());

    std::vector<float> pixels(1 * 128 * 128 * 3, 0.f);  // your image, NHWC in [-1, 1]
    iskra::Tensor image = iskra::Tensor::from_data<float>({1, 128, 128, 3}, pixels);
    std::vector<iskra::Tensor> outputs = model.run({{"input", image}});

    const float* logits = outputs[1].data<float>();   // outputs in the model's order
    std::printf("%zu face logits, first %f\n", outputs[1].element_count(), logits[0]);
  } catch (const iskra::Error& e) {                   // bad file, wrong shape, ...: a message
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
