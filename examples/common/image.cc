#include "image.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

// Debian's libstb-dev ships the stb implementations compiled in libstb; only the declarations
// are needed here.
#include <stb_image.h>
#include <stb_image_write.h>

namespace example {

Image load_image(const std::string& path) {
  int width = 0, height = 0, channels = 0;
  uint8_t* data = stbi_load(path.c_str(), &width, &height, &channels, 3);
  if (data == nullptr) {
    const char* reason = stbi_failure_reason();
    throw std::runtime_error("cannot read image '" + path + "': " + (reason ? reason : "unknown reason"));
  }
  Image image(width, height);
  std::memcpy(image.pixels.data(), data, image.pixels.size());
  stbi_image_free(data);
  return image;
}

void save_png(const std::string& path, const Image& image) {
  if (!stbi_write_png(path.c_str(), image.width, image.height, 3, image.pixels.data(), image.width * 3))
    throw std::runtime_error("cannot write '" + path + "'");
}

void sample_bilinear(const Image& src, float x, float y, float out[3]) {
  x = std::clamp(x, 0.f, float(src.width - 1));
  y = std::clamp(y, 0.f, float(src.height - 1));
  const int x0 = int(x), y0 = int(y);
  const int x1 = std::min(x0 + 1, src.width - 1), y1 = std::min(y0 + 1, src.height - 1);
  const float fx = x - float(x0), fy = y - float(y0);
  const uint8_t *a = src.at(x0, y0), *b = src.at(x1, y0), *c = src.at(x0, y1), *d = src.at(x1, y1);
  for (int ch = 0; ch < 3; ++ch) {
    const float top = float(a[ch]) + fx * float(b[ch] - a[ch]);
    const float bottom = float(c[ch]) + fx * float(d[ch] - c[ch]);
    out[ch] = top + fy * (bottom - top);
  }
}

Image resize_bilinear(const Image& src, int width, int height) {
  Image dst(width, height);
  const float sx = float(src.width) / float(width), sy = float(src.height) / float(height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      float rgb[3];
      sample_bilinear(src, (float(x) + 0.5f) * sx - 0.5f, (float(y) + 0.5f) * sy - 0.5f, rgb);
      for (int ch = 0; ch < 3; ++ch) dst.at(x, y)[ch] = uint8_t(std::lround(rgb[ch]));
    }
  }
  return dst;
}

void draw_dot(Image& image, float cx, float cy, int radius, Color color) {
  const int x0 = int(std::lround(cx)), y0 = int(std::lround(cy));
  for (int y = y0 - radius; y <= y0 + radius; ++y) {
    for (int x = x0 - radius; x <= x0 + radius; ++x) {
      if (x < 0 || y < 0 || x >= image.width || y >= image.height) continue;
      if ((x - x0) * (x - x0) + (y - y0) * (y - y0) > radius * radius) continue;
      uint8_t* p = image.at(x, y);
      p[0] = color.r, p[1] = color.g, p[2] = color.b;
    }
  }
}

void draw_line(Image& image, float x0, float y0, float x1, float y1, Color color, int thickness) {
  const float length = std::hypot(x1 - x0, y1 - y0);
  const int steps = std::max(1, int(std::ceil(length)));
  for (int i = 0; i <= steps; ++i) {
    const float t = float(i) / float(steps);
    draw_dot(image, x0 + t * (x1 - x0), y0 + t * (y1 - y0), thickness / 2, color);
  }
}

}  // namespace example
