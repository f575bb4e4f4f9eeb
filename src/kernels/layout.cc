#include "kernels/layout.h"

#include <cstring>
#include <vector>

namespace iskra {

Shape permute_shape(const Shape& shape, std::span<const int> perm) {
  Shape out(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) out[i] = shape[static_cast<size_t>(perm[i])];
  return out;
}

void permute_dims(const Tensor& in, std::span<const int> perm, Tensor& out) {
  const size_t rank = perm.size();
  const size_t elem = dtype_size(in.dtype());
  std::vector<int64_t> in_strides(rank, 1);
  for (size_t d = rank; d-- > 1;) in_strides[d - 1] = in_strides[d] * in.shape()[d];
  const Shape out_shape = permute_shape(in.shape(), perm);
  std::vector<int64_t> src_strides(rank);  // source stride of each output dim
  for (size_t d = 0; d < rank; ++d) src_strides[d] = in_strides[static_cast<size_t>(perm[d])];
  const auto* src = static_cast<const std::byte*>(in.raw_data());
  auto* dst = static_cast<std::byte*>(out.raw_data());
  const int64_t count = in.element_count();
  std::vector<int64_t> index(rank, 0);
  int64_t offset = 0;  // of the current output element in the source, in elements
  for (int64_t i = 0; i < count; ++i) {
    std::memcpy(dst + static_cast<size_t>(i) * elem, src + static_cast<size_t>(offset) * elem, elem);
    for (size_t d = rank; d-- > 0;) {  // odometer over the output dims
      offset += src_strides[d];
      if (++index[d] < out_shape[d]) break;
      offset -= src_strides[d] * out_shape[d];
      index[d] = 0;
    }
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
