#include "kernels/layout.h"

#include <cstdint>
#include <cstring>
#include <vector>

namespace iskra {

Shape permute_shape(const Shape& shape, std::span<const int> perm) {
  Shape out(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) out[i] = shape[static_cast<size_t>(perm[i])];
  return out;
}

namespace {

// The permutation as rows of the last output dim: each row a strided walk of
// the source (`inner_stride` apart), rows visited by an odometer over the other dims.
template <class T>
void permute_rows(const T* src, T* dst, const Shape& out_shape, const std::vector<int64_t>& src_strides, int64_t count) {
  const size_t rank = out_shape.size();
  if (rank == 0) {
    if (count) dst[0] = src[0];
    return;
  }
  const int64_t inner = out_shape[rank - 1], inner_stride = src_strides[rank - 1];
  if (inner == 0) return;
  std::vector<int64_t> index(rank - 1, 0);
  int64_t offset = 0;  // of the current row's first element in the source
  for (int64_t i = 0; i < count; i += inner) {
    T* row = dst + i;
    if (inner_stride == 1) std::memcpy(row, src + offset, static_cast<size_t>(inner) * sizeof(T));
    else for (int64_t j = 0; j < inner; ++j) row[j] = src[offset + j * inner_stride];
    for (size_t d = rank - 1; d-- > 0;) {  // odometer over the outer output dims
      offset += src_strides[d];
      if (++index[d] < out_shape[d]) break;
      offset -= src_strides[d] * out_shape[d];
      index[d] = 0;
    }
  }
}

}  // namespace

void permute_dims(const Tensor& in, std::span<const int> perm, Tensor& out) {
  const size_t rank = perm.size();
  std::vector<int64_t> in_strides(rank, 1);
  for (size_t d = rank; d-- > 1;) in_strides[d - 1] = in_strides[d] * in.shape()[d];
  // The output dims with their source strides, size-1 dims dropped and dims that are
  // contiguous in the source too merged (a 1x1 filter's [O, 1, 1, I] → [O, I, 1, 1] is a copy).
  Shape out_shape;
  std::vector<int64_t> src_strides;
  for (size_t d = 0; d < rank; ++d) {
    const int64_t size = in.shape()[static_cast<size_t>(perm[d])], stride = in_strides[static_cast<size_t>(perm[d])];
    if (size == 1) continue;
    if (!out_shape.empty() && src_strides.back() == stride * size) {
      out_shape.back() *= size;
      src_strides.back() = stride;
      continue;
    }
    out_shape.push_back(size);
    src_strides.push_back(stride);
  }
  const int64_t count = in.element_count();
  const void* src = in.raw_data();
  void* dst = out.raw_data();
  switch (dtype_size(in.dtype())) {  // elements moved as bytes of their size
    case 1: return permute_rows(static_cast<const uint8_t*>(src), static_cast<uint8_t*>(dst), out_shape, src_strides, count);
    case 2: return permute_rows(static_cast<const uint16_t*>(src), static_cast<uint16_t*>(dst), out_shape, src_strides, count);
    case 4: return permute_rows(static_cast<const uint32_t*>(src), static_cast<uint32_t*>(dst), out_shape, src_strides, count);
    case 8: return permute_rows(static_cast<const uint64_t*>(src), static_cast<uint64_t*>(dst), out_shape, src_strides, count);
    default: break;  // strings (size 0): nothing to move as bytes
  }
}

Result<Tensor> permuted(const Tensor& in, std::span<const int> perm) {
  if (in.dtype() == DType::kString) return unsupported("cannot permute the dims of a string tensor");
  if (perm.size() != in.shape().size())
    return invalid_argument("permutation of ", perm.size(), " dims for a tensor of rank ", in.rank());
  ISKRA_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(in.dtype(), permute_shape(in.shape(), perm)));
  permute_dims(in, perm, out);
  return out;
}

}  // namespace iskra
