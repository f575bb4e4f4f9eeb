// Reading and writing NumPy .npy files (format versions 1.0–3.0, little-endian,
// C order) — the interchange format of `iskra run` and of the test scripts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace iskra {

struct NpyArray {
  std::string descr;            // numpy dtype string, e.g. "<f4", "|b1"
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;    // raw little-endian element bytes, C order
};

// Parses an .npy file image; errors name `what` (usually the path).
Result<NpyArray> parse_npy(const void* bytes, size_t size, const std::string& what);
Result<NpyArray> read_npy_file(const std::string& path);
// Serializes to the .npy 1.0 format (2.0 if the header is too long).
std::vector<uint8_t> serialize_npy(const NpyArray& array);
Status write_npy_file(const std::string& path, const NpyArray& array);

}  // namespace iskra
