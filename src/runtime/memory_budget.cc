#include "runtime/memory_budget.h"

#include <cstdio>

namespace iskra {

std::string format_bytes(size_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 6) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, kUnits[unit]);
  return text;
}

Status MemoryBudget::over_limit(size_t bytes, std::string_view what) const {
  return out_of_memory(what, ": ", format_bytes(bytes), " would pass the session's memory limit of ",
                       format_bytes(limit_), " (", format_bytes(used_), " already held)");
}

}  // namespace iskra
