// Face detection with MediaPipe's BlazeFace short-range model (.tflite) on Iskra.
//
//   face_detection --model face_detection_short_range.tflite [--threads N] [--out annotated.png] IMAGE
//
// The model file ships in npm @mediapipe/face_detection. Prints each face's score, box and six
// keypoints in image pixels; --out draws them on the image.
//
// Pre- and post-processing follow MediaPipe's face_detection_short_range graph: the image
// letterboxed to 128x128 and scaled to [-1, 1]; 896 SSD anchors; boxes and keypoints decoded
// relative to them; score = sigmoid(logit) >= 0.5; weighted non-maximum suppression at IoU 0.3.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "app.h"
#include "image.h"
#include "iskra/iskra.hpp"

namespace {

using example::Image;

constexpr int kInputSize = 128;
constexpr int kAnchorCount = 896;
constexpr int kKeypoints = 6;
constexpr int kValuesPerAnchor = 4 + 2 * kKeypoints;  // box centre and size, then the keypoints
constexpr float kMinScore = 0.5f;
constexpr float kMinSuppressionIoU = 0.3f;
const char* const kKeypointNames[kKeypoints] = {"right eye", "left eye", "nose tip", "mouth", "right ear", "left ear"};

struct Point {
  float x = 0, y = 0;
};

struct Face {
  float score = 0;
  float x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // box; in [0, 1] of the model input until mapped to the image
  Point keypoints[kKeypoints];
};

// Anchor centres in [0, 1], in the order of the model's outputs (MediaPipe's SsdAnchorsCalculator
// with 4 layers at strides 8, 16, 16, 16, aspect ratio 1, fixed anchor size): layers of the same
// stride share one feature map, and each of its cells gets 2 anchors per layer.
std::vector<Point> make_anchors() {
  const int strides[] = {8, 16, 16, 16};
  std::vector<Point> anchors;
  for (size_t layer = 0; layer < 4;) {
    size_t last = layer;
    while (last < 4 && strides[last] == strides[layer]) ++last;
    const int per_cell = 2 * int(last - layer);
    const int cells = (kInputSize + strides[layer] - 1) / strides[layer];
    for (int y = 0; y < cells; ++y)
      for (int x = 0; x < cells; ++x)
        for (int k = 0; k < per_cell; ++k)
          anchors.push_back({(float(x) + 0.5f) / float(cells), (float(y) + 0.5f) / float(cells)});
    layer = last;
  }
  return anchors;
}

float iou(const Face& a, const Face& b) {
  const float w = std::max(0.f, std::min(a.x1, b.x1) - std::max(a.x0, b.x0));
  const float h = std::max(0.f, std::min(a.y1, b.y1) - std::max(a.y0, b.y0));
  const float inter = w * h;
  const float uni = (a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter;
  return uni > 0 ? inter / uni : 0.f;
}

// Candidates above the score threshold, decoded.
std::vector<Face> decode(const float* regressors, const float* logits) {
  static const std::vector<Point> anchors = make_anchors();
  std::vector<Face> faces;
  for (int i = 0; i < kAnchorCount; ++i) {
    const float logit = std::clamp(logits[i], -100.f, 100.f);
    const float score = 1.f / (1.f + std::exp(-logit));
    if (score < kMinScore) continue;
    const float* r = regressors + size_t(i) * kValuesPerAnchor;
    const Point a = anchors[size_t(i)];
    Face f;
    f.score = score;
    const float cx = r[0] / kInputSize + a.x, cy = r[1] / kInputSize + a.y;
    const float w = r[2] / kInputSize, h = r[3] / kInputSize;
    f.x0 = cx - w / 2, f.y0 = cy - h / 2, f.x1 = cx + w / 2, f.y1 = cy + h / 2;
    for (int k = 0; k < kKeypoints; ++k)
      f.keypoints[k] = {r[4 + 2 * k] / kInputSize + a.x, r[5 + 2 * k] / kInputSize + a.y};
    faces.push_back(f);
  }
  return faces;
}

// Weighted non-maximum suppression: the best remaining candidate takes every candidate that
// overlaps it, and its box and keypoints become their score-weighted mean.
std::vector<Face> suppress(std::vector<Face> candidates) {
  std::sort(candidates.begin(), candidates.end(), [](const Face& a, const Face& b) { return a.score > b.score; });
  std::vector<Face> faces;
  while (!candidates.empty()) {
    const Face best = candidates.front();
    Face merged;
    merged.score = best.score;
    float total = 0;
    std::vector<Face> rest;
    for (const Face& c : candidates) {
      if (iou(best, c) <= kMinSuppressionIoU) {
        rest.push_back(c);
        continue;
      }
      total += c.score;
      merged.x0 += c.score * c.x0, merged.y0 += c.score * c.y0;
      merged.x1 += c.score * c.x1, merged.y1 += c.score * c.y1;
      for (int k = 0; k < kKeypoints; ++k)
        merged.keypoints[k].x += c.score * c.keypoints[k].x, merged.keypoints[k].y += c.score * c.keypoints[k].y;
    }
    merged.x0 /= total, merged.y0 /= total, merged.x1 /= total, merged.y1 /= total;
    for (Point& p : merged.keypoints) p.x /= total, p.y /= total;
    faces.push_back(merged);
    candidates = std::move(rest);
  }
  return faces;
}

// The letterbox: the image scaled to fit kInputSize x kInputSize, centred, bars at the sides.
struct Letterbox {
  float scale = 1;       // model-input pixels per image pixel
  float pad_x = 0, pad_y = 0;  // bar widths, in model-input pixels
};

iskra::Tensor to_input(const Image& image, Letterbox& box) {
  box.scale = std::min(float(kInputSize) / float(image.width), float(kInputSize) / float(image.height));
  const int w = std::max(1, int(std::lround(float(image.width) * box.scale)));
  const int h = std::max(1, int(std::lround(float(image.height) * box.scale)));
  box.pad_x = float(kInputSize - w) / 2, box.pad_y = float(kInputSize - h) / 2;
  const Image resized = example::resize_bilinear(image, w, h);
  // NHWC, RGB in [-1, 1]; the bars are black (-1).
  std::vector<float> data(size_t(kInputSize) * kInputSize * 3, -1.f);
  const int left = int(box.pad_x), top = int(box.pad_y);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        data[(size_t(top + y) * kInputSize + size_t(left + x)) * 3 + size_t(c)] = resized.at(x, y)[c] / 127.5f - 1.f;
  box.pad_x = float(left), box.pad_y = float(top);
  return iskra::Tensor::from_data<float>({1, kInputSize, kInputSize, 3}, data);
}

// A model output by name, checked to hold `count` floats.
const iskra::Tensor& output(const iskra::Model& model, const std::vector<iskra::Tensor>& outputs,
                            const std::string& name, size_t count) {
  const std::vector<iskra::IoInfo> infos = model.outputs();
  for (size_t i = 0; i < infos.size(); ++i) {
    if (infos[i].name != name) continue;
    if (outputs[i].dtype() != ISKRA_DTYPE_F32 || outputs[i].element_count() != count)
      throw std::runtime_error("output '" + name + "' should hold " + std::to_string(count) + " floats");
    return outputs[i];
  }
  throw std::runtime_error("the model has no output '" + name + "': is it BlazeFace short range?");
}

std::vector<Face> detect_faces(iskra::Model& model, const Image& image) {
  const std::vector<iskra::IoInfo> inputs = model.inputs();
  if (inputs.size() != 1 || inputs[0].shape != std::vector<int64_t>{1, kInputSize, kInputSize, 3})
    throw std::runtime_error("the model should take one 1x128x128x3 image: is it BlazeFace short range?");
  Letterbox box;
  const iskra::Tensor input = to_input(image, box);
  const std::vector<iskra::Tensor> outputs = model.run({{inputs[0].name, input}});
  const float* regressors = output(model, outputs, "regressors", size_t(kAnchorCount) * kValuesPerAnchor).data<float>();
  const float* logits = output(model, outputs, "classificators", kAnchorCount).data<float>();
  std::vector<Face> faces = suppress(decode(regressors, logits));
  // From [0, 1] of the model input to image pixels.
  auto to_image_x = [&](float v) { return (v * kInputSize - box.pad_x) / box.scale; };
  auto to_image_y = [&](float v) { return (v * kInputSize - box.pad_y) / box.scale; };
  for (Face& f : faces) {
    f.x0 = to_image_x(f.x0), f.x1 = to_image_x(f.x1), f.y0 = to_image_y(f.y0), f.y1 = to_image_y(f.y1);
    for (Point& p : f.keypoints) p = {to_image_x(p.x), to_image_y(p.y)};
  }
  return faces;
}

struct Options {
  std::string model_path;
  std::string image_path;
  std::string out_path;
  int threads = 1;
};

Options parse_args(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--model") options.model_path = value();
    else if (arg == "--out") options.out_path = value();
    else if (arg == "--threads") options.threads = example::parse_thread_count(value());
    else if (arg == "-h" || arg == "--help") throw example::UsageRequested{};
    else if (!arg.empty() && arg[0] == '-') throw std::runtime_error("unknown option " + arg);
    else if (options.image_path.empty()) options.image_path = arg;
    else throw std::runtime_error("more than one image given");
  }
  if (options.model_path.empty()) throw std::runtime_error("no --model given");
  if (options.image_path.empty()) throw std::runtime_error("no image given");
  return options;
}

int run(const Options& options) {
  iskra::ModelOptions model_options;
  model_options.threads = options.threads;
  const auto start = std::chrono::steady_clock::now();
  iskra::Model model = iskra::Model::load(options.model_path, model_options);
  const auto loaded = std::chrono::steady_clock::now();
  Image image = example::load_image(options.image_path);
  const auto decoded = std::chrono::steady_clock::now();
  const std::vector<Face> faces = detect_faces(model, image);
  const auto detected = std::chrono::steady_clock::now();

  for (size_t i = 0; i < faces.size(); ++i) {
    const Face& f = faces[i];
    std::printf("face %zu: score %.3f, box x %.0f-%.0f, y %.0f-%.0f\n", i + 1, f.score, f.x0, f.x1, f.y0, f.y1);
    for (int k = 0; k < kKeypoints; ++k)
      std::printf("  %-9s (%.0f, %.0f)\n", kKeypointNames[k], f.keypoints[k].x, f.keypoints[k].y);
  }
  auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  std::printf("%zu %s in %dx%d; load %.1f ms, detect %.2f ms\n", faces.size(), faces.size() == 1 ? "face" : "faces",
              image.width, image.height, ms(start, loaded), ms(decoded, detected));

  if (!options.out_path.empty()) {
    const example::Color green{0, 220, 0}, red{230, 30, 30};
    for (const Face& f : faces) {
      example::draw_line(image, f.x0, f.y0, f.x1, f.y0, green);
      example::draw_line(image, f.x1, f.y0, f.x1, f.y1, green);
      example::draw_line(image, f.x1, f.y1, f.x0, f.y1, green);
      example::draw_line(image, f.x0, f.y1, f.x0, f.y0, green);
      for (const Point& p : f.keypoints) example::draw_dot(image, p.x, p.y, 3, red);
    }
    example::save_png(options.out_path, image);
    std::printf("wrote %s\n", options.out_path.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const char* usage = "--model face_detection_short_range.tflite [--threads N] [--out annotated.png] IMAGE";
  return example::run_app("face_detection", usage, [&] { return run(parse_args(argc, argv)); });
}
