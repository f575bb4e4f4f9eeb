// Buffers for tensors and packed weights: aligned, zeroed when asked (small
// blocks from the heap, large ones mapped), and tensors made uninitialized
// still have every byte writable.
#include "base/buffer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "ir/tensor.h"

namespace iskra {
namespace {

TEST(Buffer, AlignedAndZeroedAtEverySize) {
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{100}, size_t{4096}, (size_t{2} << 20) - 4, size_t{2} << 20,
                       (size_t{5} << 20) + 12}) {
    auto* p = static_cast<unsigned char*>(allocate_zeroed_buffer(bytes));
    ASSERT_NE(p, nullptr) << bytes;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kBufferAlignment, 0u) << bytes;
    size_t nonzero = 0;
    for (size_t i = 0; i < bytes; ++i) nonzero += p[i] != 0;
    EXPECT_EQ(nonzero, 0u) << bytes;
    std::memset(p, 0xab, bytes);  // all of it is writable
    free_buffer(p, bytes);
  }
}

TEST(Buffer, UninitializedTensorsAreWholeAndAligned) {
  for (int64_t n : {int64_t{3}, int64_t{1} << 20}) {
    Tensor t = Tensor::allocate_uninitialized(DType::kF32, {n}).value();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % kTensorAlignment, 0u);
    std::memset(t.raw_data(), 0, t.byte_size());
    Tensor z = Tensor::allocate(DType::kF32, {n}).value();
    EXPECT_EQ(std::memcmp(t.raw_data(), z.raw_data(), t.byte_size()), 0);
  }
  EXPECT_FALSE(Tensor::allocate_uninitialized(DType::kF32, {-1}).is_ok());
}

}  // namespace
}  // namespace iskra
