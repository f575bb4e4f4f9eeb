#include "geometry.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ocr {

std::vector<Region> connected_regions(const std::vector<uint8_t>& mask, int width, int height) {
  std::vector<Region> regions;
  std::vector<uint8_t> seen(mask.size(), 0);
  std::vector<int32_t> stack;
  auto inside = [&](int x, int y) {
    return x >= 0 && y >= 0 && x < width && y < height && mask[size_t(y) * width + x];
  };
  for (int32_t start = 0; start < width * height; ++start) {
    if (!mask[size_t(start)] || seen[size_t(start)]) continue;
    Region region;
    seen[size_t(start)] = 1;
    stack.assign(1, start);
    while (!stack.empty()) {
      const int32_t p = stack.back();
      stack.pop_back();
      region.pixels.push_back(p);
      const int x = p % width, y = p / width;
      if (!inside(x - 1, y) || !inside(x + 1, y) || !inside(x, y - 1) || !inside(x, y + 1))
        region.border.push_back({float(x), float(y)});
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          if (!inside(x + dx, y + dy)) continue;
          const int32_t q = (y + dy) * width + (x + dx);
          if (!seen[size_t(q)]) seen[size_t(q)] = 1, stack.push_back(q);
        }
      }
    }
    regions.push_back(std::move(region));
  }
  return regions;
}

namespace {

// Solves the n x n system given as n rows [a | b] of n + 1 values (Gauss-Jordan with partial
// pivoting) into x; false when it is singular (a pivot below 1e-12 of the largest entry).
bool solve_linear(std::vector<double> rows, int n, double* x) {
  auto at = [&](int r, int c) -> double& { return rows[size_t(r) * size_t(n + 1) + size_t(c)]; };
  double largest = 0;
  for (double v : rows) largest = std::max(largest, std::fabs(v));
  for (int col = 0; col < n; ++col) {
    int pivot = col;
    for (int row = col + 1; row < n; ++row)
      if (std::fabs(at(row, col)) > std::fabs(at(pivot, col))) pivot = row;
    for (int k = 0; k <= n; ++k) std::swap(at(col, k), at(pivot, k));
    if (std::fabs(at(col, col)) <= 1e-12 * largest) return false;
    for (int row = 0; row < n; ++row) {
      if (row == col) continue;
      const double f = at(row, col) / at(col, col);
      for (int k = col; k <= n; ++k) at(row, k) -= f * at(col, k);
    }
  }
  for (int i = 0; i < n; ++i) x[i] = at(i, n) / at(i, i);
  return true;
}

float cross(Point o, Point a, Point b) { return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x); }

// Andrew's monotone chain; counter-clockwise (in y-up terms), no collinear points.
std::vector<Point> convex_hull(std::vector<Point> points) {
  std::sort(points.begin(), points.end(), [](Point a, Point b) { return a.x < b.x || (a.x == b.x && a.y < b.y); });
  if (points.size() < 3) return points;
  std::vector<Point> hull(2 * points.size());
  size_t k = 0;
  for (size_t i = 0; i < points.size(); ++i) {
    while (k >= 2 && cross(hull[k - 2], hull[k - 1], points[i]) <= 0) --k;
    hull[k++] = points[i];
  }
  for (size_t i = points.size() - 1, lower = k + 1; i-- > 0;) {
    while (k >= lower && cross(hull[k - 2], hull[k - 1], points[i]) <= 0) --k;
    hull[k++] = points[i];
  }
  hull.resize(k - 1);
  return hull;
}

}  // namespace

RotatedRect min_area_rect(std::vector<Point> points) {
  const std::vector<Point> hull = convex_hull(std::move(points));
  RotatedRect best;
  if (hull.empty()) return best;
  if (hull.size() == 1) {
    best.center = hull[0];
    best.axis = {1, 0};
    return best;
  }
  float best_area = std::numeric_limits<float>::max();
  // The minimum rectangle has a side on one of the hull's edges: try each edge's direction.
  for (size_t i = 0; i < hull.size(); ++i) {
    const Point a = hull[i], b = hull[(i + 1) % hull.size()];
    const float norm = std::hypot(b.x - a.x, b.y - a.y);
    if (norm == 0) continue;
    const Point u{(b.x - a.x) / norm, (b.y - a.y) / norm};
    float u_min = std::numeric_limits<float>::max(), u_max = -u_min, v_min = u_min, v_max = -u_min;
    for (const Point& p : hull) {
      const float pu = p.x * u.x + p.y * u.y, pv = -p.x * u.y + p.y * u.x;
      u_min = std::min(u_min, pu), u_max = std::max(u_max, pu);
      v_min = std::min(v_min, pv), v_max = std::max(v_max, pv);
    }
    const float area = (u_max - u_min) * (v_max - v_min);
    if (area < best_area) {
      best_area = area;
      const float cu = (u_min + u_max) / 2, cv = (v_min + v_max) / 2;
      best.center = {cu * u.x - cv * u.y, cu * u.y + cv * u.x};
      best.axis = u;
      best.length = u_max - u_min;
      best.breadth = v_max - v_min;
    }
  }
  return best;
}

RotatedRect RotatedRect::grown(float distance) const {
  RotatedRect r = *this;
  r.length += 2 * distance;
  r.breadth += 2 * distance;
  return r;
}

Quad RotatedRect::corners() const {
  const Point half_u{axis.x * length / 2, axis.y * length / 2};
  const Point half_v{-axis.y * breadth / 2, axis.x * breadth / 2};
  std::array<Point, 4> p = {
      Point{center.x - half_u.x - half_v.x, center.y - half_u.y - half_v.y},
      Point{center.x + half_u.x - half_v.x, center.y + half_u.y - half_v.y},
      Point{center.x + half_u.x + half_v.x, center.y + half_u.y + half_v.y},
      Point{center.x - half_u.x + half_v.x, center.y - half_u.y + half_v.y},
  };
  // get_mini_boxes: the two leftmost corners are the left side (upper one first), the two
  // rightmost the right side.
  std::sort(p.begin(), p.end(), [](Point a, Point b) { return a.x < b.x; });
  const auto [top_left, bottom_left] = p[0].y <= p[1].y ? std::pair(p[0], p[1]) : std::pair(p[1], p[0]);
  const auto [top_right, bottom_right] = p[2].y <= p[3].y ? std::pair(p[2], p[3]) : std::pair(p[3], p[2]);
  return {top_left, top_right, bottom_right, bottom_left};
}

namespace {

// Solves the 8x8 system of the homography H (h33 = 1) with H * dst[i] ~ src[i].
std::array<double, 9> homography(const std::array<Point, 4>& dst, const Quad& src) {
  std::vector<double> rows(8 * 9, 0.0);
  for (int i = 0; i < 4; ++i) {
    const double x = dst[i].x, y = dst[i].y, u = src[i].x, v = src[i].y;
    double* r0 = &rows[size_t(2 * i) * 9];
    double* r1 = r0 + 9;
    r0[0] = x, r0[1] = y, r0[2] = 1, r0[6] = -x * u, r0[7] = -y * u, r0[8] = u;
    r1[3] = x, r1[4] = y, r1[5] = 1, r1[6] = -x * v, r1[7] = -y * v, r1[8] = v;
  }
  std::array<double, 9> h{};
  if (!solve_linear(std::move(rows), 8, h.data())) return {1, 0, 0, 0, 1, 0, 0, 0, 1};  // degenerate quad
  h[8] = 1;
  return h;
}

}  // namespace

example::Image warp_quad(const example::Image& src, const Quad& quad, int width, int height) {
  const std::array<Point, 4> corners = {Point{0, 0}, Point{float(width), 0}, Point{float(width), float(height)},
                                        Point{0, float(height)}};
  const std::array<double, 9> h = homography(corners, quad);
  example::Image out(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const double w = h[6] * x + h[7] * y + h[8];
      float rgb[3];
      const float sx = float((h[0] * x + h[1] * y + h[2]) / w), sy = float((h[3] * x + h[4] * y + h[5]) / w);
      example::sample_bilinear(src, sx, sy, rgb);
      for (int ch = 0; ch < 3; ++ch) out.at(x, y)[ch] = uint8_t(std::lround(rgb[ch]));
    }
  }
  return out;
}

float CurvedLine::bend() const {
  float worst = 0;
  const float y_begin = center_y(x_begin), y_end = center_y(x_end);
  for (int i = 1; i < 16; ++i) {
    const float t = float(i) / 16, x = x_begin + t * (x_end - x_begin);
    worst = std::max(worst, std::fabs(center_y(x) - (y_begin + t * (y_end - y_begin))));
  }
  return worst;
}

CurvedLine CurvedLine::scaled(float sx, float sy, float margin_x, float margin_y) const {
  CurvedLine out;
  out.x_begin = x_begin * sx - margin_x;
  out.x_end = x_end * sx + margin_x;
  // y' = sy * center_y(x' / sx)
  out.c[0] = sy * c[0];
  out.c[1] = sy * c[1] / sx;
  out.c[2] = sy * c[2] / (sx * sx);
  out.half_height = half_height * sy + margin_y;
  return out;
}

CurvedLine fit_curved_line(const Region& region, int width) {
  // Extent of the region in each of its columns.
  int x_min = width, x_max = -1;
  for (int32_t p : region.pixels) x_min = std::min(x_min, p % width), x_max = std::max(x_max, p % width);
  const size_t columns = size_t(x_max - x_min + 1);
  std::vector<int> top(columns, std::numeric_limits<int>::max()), bottom(columns, -1);
  for (int32_t p : region.pixels) {
    const size_t col = size_t(p % width - x_min);
    top[col] = std::min(top[col], p / width);
    bottom[col] = std::max(bottom[col], p / width);
  }
  // Least squares of the column middles on (1, t, t^2), t = x - x_min, in continuous
  // coordinates where pixel i spans [i, i + 1] (so that scaling to another image is a product).
  double m[3][4] = {};
  std::vector<float> halves;
  for (size_t col = 0; col < columns; ++col) {
    if (bottom[col] < 0) continue;
    const double t = double(col) + 0.5, y = (top[col] + bottom[col] + 1) / 2.0, basis[3] = {1, t, t * t};
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) m[i][j] += basis[i] * basis[j];
      m[i][3] += basis[i] * y;
    }
    halves.push_back(float(bottom[col] - top[col] + 1) / 2);
  }
  double q[3] = {0, 0, 0};  // the coefficients in t; a degenerate system keeps the lower terms
  for (int n = 3; n >= 1; --n) {  // terms of the fit: quadratic, then linear, then constant
    std::vector<double> rows;
    for (int i = 0; i < n; ++i) {
      rows.insert(rows.end(), m[i], m[i] + n);
      rows.push_back(m[i][3]);
    }
    if (solve_linear(std::move(rows), n, q)) break;
  }
  CurvedLine line;
  line.x_begin = float(x_min);
  line.x_end = float(x_max + 1);
  // Substitute t = x - x_min.
  const double x0 = x_min;
  line.c[0] = float(q[0] - q[1] * x0 + q[2] * x0 * x0);
  line.c[1] = float(q[1] - 2 * q[2] * x0);
  line.c[2] = float(q[2]);
  std::nth_element(halves.begin(), halves.begin() + (halves.size() - 1) * 100 / 100, halves.end());
  line.half_height = halves.empty() ? 0.f : halves[(halves.size() - 1) * 100 / 100];
  return line;
}

example::Image warp_curved_line(const example::Image& src, const CurvedLine& line) {
  const int width = std::max(1, int(std::lround(line.x_end - line.x_begin)));
  const int height = std::max(1, int(std::lround(2 * line.half_height)));
  example::Image out(width, height);
  for (int x = 0; x < width; ++x) {
    const float sx = line.x_begin + float(x) + 0.5f;
    const float top = line.center_y(sx) - line.half_height;
    for (int y = 0; y < height; ++y) {
      float rgb[3];
      example::sample_bilinear(src, sx - 0.5f, top + float(y), rgb);
      for (int ch = 0; ch < 3; ++ch) out.at(x, y)[ch] = uint8_t(std::lround(rgb[ch]));
    }
  }
  return out;
}

example::Image rotate_90(const example::Image& src) {
  example::Image out(src.height, src.width);
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) std::copy_n(src.at(src.width - 1 - y, x), 3, out.at(x, y));
  return out;
}

example::Image rotate_180(const example::Image& src) {
  example::Image out(src.width, src.height);
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) std::copy_n(src.at(src.width - 1 - x, src.height - 1 - y), 3, out.at(x, y));
  return out;
}

}  // namespace ocr
