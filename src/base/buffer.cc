#include "base/buffer.h"

#include <sys/mman.h>

#include <cstring>
#include <new>

namespace iskra {

namespace {

constexpr size_t kHugePage = size_t{2} << 20;

bool is_mapped(size_t bytes) { return bytes >= kHugePage; }

size_t mapped_size(size_t bytes) { return (bytes + kHugePage - 1) / kHugePage * kHugePage; }

}  // namespace

void* allocate_buffer(size_t bytes) {
  if (!is_mapped(bytes)) return ::operator new(bytes ? bytes : 1, std::align_val_t(kBufferAlignment), std::nothrow);
  const size_t size = mapped_size(bytes);
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
#ifdef MADV_HUGEPAGE
  ::madvise(p, size, MADV_HUGEPAGE);  // advice only: ignored where huge pages are off
#endif
  return p;
}

void* allocate_zeroed_buffer(size_t bytes) {
  void* p = allocate_buffer(bytes);
  if (p && !is_mapped(bytes)) std::memset(p, 0, bytes);
  return p;
}

void free_buffer(void* p, size_t bytes) {
  if (!p) return;
  if (!is_mapped(bytes)) {
    ::operator delete(p, std::align_val_t(kBufferAlignment));
    return;
  }
  ::munmap(p, mapped_size(bytes));
}

}  // namespace iskra
