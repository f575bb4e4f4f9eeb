// The most bytes of tensors a session may hold (SessionOptions::memory_limit_bytes):
// the model's constants, each executor's folded values and arena, and the
// buffers of nodes whose shapes are known only at run time. Every charge is
// checked before the memory is allocated, so a hostile model that asks for
// an absurd tensor (a Tile or Expand to terabytes, a huge ConstantOfShape) is
// refused with the node named instead of exhausting the machine.
//
// One per session, shared by its subgraph executors; a session runs one call
// at a time, so it needs no synchronization.
#pragma once

#include <cstddef>
#include <string_view>

#include "base/status.h"

namespace iskra {

class MemoryBudget {
 public:
  explicit MemoryBudget(size_t limit_bytes) : limit_(limit_bytes) {}  // 0: no limit

  // Charges `bytes`, or fails (out of memory) naming what() when the total
  // would pass the limit; nothing is charged then. what() runs only on failure,
  // so a charge that fits builds no message.
  template <typename What>
  Status reserve(size_t bytes, What&& what) {
    if (limit_ != 0 && (bytes > limit_ || used_ > limit_ - bytes)) return over_limit(bytes, what());
    used_ += bytes;
    return Status::ok();
  }
  // Fails as reserve() would when `bytes` could never fit, not even alone
  // (over the whole limit); charges nothing. Refuses a value before any work
  // (a kernel's preparation) is spent on it.
  template <typename What>
  Status check_fits_alone(size_t bytes, What&& what) const {
    if (limit_ != 0 && bytes > limit_) return over_limit(bytes, what());
    return Status::ok();
  }
  void release(size_t bytes) { used_ -= bytes < used_ ? bytes : used_; }

  size_t limit() const { return limit_; }
  size_t used() const { return used_; }

 private:
  Status over_limit(size_t bytes, std::string_view what) const;

  size_t limit_;
  size_t used_ = 0;
};

// "512 B", "3.1 MiB", "4.0 GiB": for messages.
std::string format_bytes(size_t bytes);

}  // namespace iskra
