// Overflow-checked integer arithmetic for sizes computed from untrusted files.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace iskra {

inline std::optional<int64_t> checked_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

inline std::optional<int64_t> checked_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// Product of dims; nullopt if any dim is negative or the product overflows.
inline std::optional<int64_t> checked_element_count(std::span<const int64_t> dims) {
  int64_t count = 1;
  for (int64_t d : dims) {
    if (d < 0) return std::nullopt;
    auto next = checked_mul(count, d);
    if (!next) return std::nullopt;
    count = *next;
  }
  return count;
}

}  // namespace iskra
