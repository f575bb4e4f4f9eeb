// The geometry PaddleOCR's pipeline takes from OpenCV, written out: connected regions of a text
// mask, the minimum-area rectangle around a region (what cv2.minAreaRect returns), and the
// perspective crop of a quadrilateral (cv2.getPerspectiveTransform + cv2.warpPerspective).
#ifndef ISKRA_EXAMPLES_OCR_GEOMETRY_H_
#define ISKRA_EXAMPLES_OCR_GEOMETRY_H_

#include <array>
#include <cstdint>
#include <vector>

#include "image.h"

namespace ocr {

struct Point {
  float x = 0, y = 0;
};

// A quadrilateral with corners in the order top-left, top-right, bottom-right, bottom-left.
using Quad = std::array<Point, 4>;

// One 8-connected region of a binary mask: its pixels' coordinates, and those on its border
// (pixels with a 4-neighbour outside the region), which is all a convex hull needs.
struct Region {
  std::vector<int32_t> pixels;  // y * width + x
  std::vector<Point> border;
};

// The 8-connected regions of `mask` (width x height, non-zero = set), in raster order of their
// first pixel.
std::vector<Region> connected_regions(const std::vector<uint8_t>& mask, int width, int height);

// A rotated rectangle: centre, unit direction of its first side, and its two side lengths.
struct RotatedRect {
  Point center;
  Point axis;  // unit vector along `length`; the other side is perpendicular to it
  float length = 0, breadth = 0;

  float short_side() const { return length < breadth ? length : breadth; }
  // The rectangle grown by `distance` on every side.
  RotatedRect grown(float distance) const;
  // Its corners ordered as PaddleOCR's get_mini_boxes orders them (top-left, top-right,
  // bottom-right, bottom-left for a roughly horizontal box).
  Quad corners() const;
};

// The smallest-area rectangle containing `points` (rotating calipers over the convex hull).
RotatedRect min_area_rect(std::vector<Point> points);

// A line of text along a curve y = c[0] + c[1] x + c[2] x^2, from x_begin to x_end, reaching
// half_height above and below the curve. A line on a bent page fits no rectangle: its rectangle
// takes in parts of the lines above and below.
struct CurvedLine {
  float x_begin = 0, x_end = 0;
  float c[3] = {0, 0, 0};
  float half_height = 0;

  float center_y(float x) const { return c[0] + (c[1] + c[2] * x) * x; }
  // How far the curve strays from the straight line between its ends.
  float bend() const;
  // The same line in an image scaled by (sx, sy), grown by `margin` (in the scaled image) at
  // both ends and on both sides.
  CurvedLine scaled(float sx, float sy, float margin_x, float margin_y) const;
};

// The curve through the middle of each column of a region (least squares, quadratic), and the
// median half height of its columns.
CurvedLine fit_curved_line(const Region& region, int width);

// The curved line of `src` straightened: one output column per source column, each sampled
// from half_height above to half_height below the curve.
example::Image warp_curved_line(const example::Image& src, const CurvedLine& line);

// The quadrilateral `quad` of `src` warped to an upright width x height image (the homography
// that maps the output's corners to the quad's; bilinear sampling, edge pixels repeated).
example::Image warp_quad(const example::Image& src, const Quad& quad, int width, int height);

// The image turned by 90 degrees counter-clockwise (numpy.rot90), and by 180 degrees.
example::Image rotate_90(const example::Image& src);
example::Image rotate_180(const example::Image& src);

}  // namespace ocr

#endif  // ISKRA_EXAMPLES_OCR_GEOMETRY_H_
