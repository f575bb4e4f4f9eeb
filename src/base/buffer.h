// Storage for tensors, packed weights and scratch: 64-byte aligned; blocks of
// 2 MiB and more are mapped directly and advised onto transparent huge pages
// (where the kernel allows it), which cuts the page faults of the first touch
// of a weight copy or an arena 512-fold and the TLB misses of the kernels.
#pragma once

#include <cstddef>

namespace iskra {

inline constexpr size_t kBufferAlignment = 64;

// At least `bytes` (0 allowed), aligned to kBufferAlignment; nullptr when out
// of memory. Contents are undefined.
void* allocate_buffer(size_t bytes);
// The same, zero-filled (mapped blocks come zeroed from the kernel: no pass
// over them here).
void* allocate_zeroed_buffer(size_t bytes);
// Frees a block from allocate_buffer or allocate_zeroed_buffer of the same size.
void free_buffer(void* p, size_t bytes);

}  // namespace iskra
