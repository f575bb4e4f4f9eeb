// Small RGB image helpers shared by the examples: decoding with stb_image, PNG writing with
// stb_image_write, bilinear resizing and a little drawing. Nothing here is part of Iskra; an app
// would use its platform's image code instead.
#ifndef ISKRA_EXAMPLES_COMMON_IMAGE_H_
#define ISKRA_EXAMPLES_COMMON_IMAGE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace example {

// An 8-bit RGB image, rows top to bottom, 3 bytes a pixel.
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;

  Image() = default;
  Image(int w, int h, uint8_t fill = 0) : width(w), height(h), pixels(size_t(w) * size_t(h) * 3, fill) {}
  uint8_t* at(int x, int y) { return &pixels[(size_t(y) * size_t(width) + size_t(x)) * 3]; }
  const uint8_t* at(int x, int y) const { return &pixels[(size_t(y) * size_t(width) + size_t(x)) * 3]; }
};

struct Color {
  uint8_t r, g, b;
};

// Decodes a PNG, JPEG, BMP, ... file (grey images become RGB). Throws std::runtime_error naming
// the file and why it could not be read.
Image load_image(const std::string& path);

// Writes a PNG file; throws std::runtime_error if it cannot.
void save_png(const std::string& path, const Image& image);

// Bilinear resize with pixel centres at +0.5 (as OpenCV's INTER_LINEAR and PIL's BILINEAR on
// upscaling).
Image resize_bilinear(const Image& src, int width, int height);

// The pixel at a real position, bilinear between the four nearest pixels; positions outside the
// image take the nearest edge pixel. `out` gets 3 channels.
void sample_bilinear(const Image& src, float x, float y, float out[3]);

// Drawing, clipped to the image.
void draw_line(Image& image, float x0, float y0, float x1, float y1, Color color, int thickness = 2);
void draw_dot(Image& image, float x, float y, int radius, Color color);

}  // namespace example

#endif  // ISKRA_EXAMPLES_COMMON_IMAGE_H_
