// Sparse TFLite constants (SparsityParameters) expanded to dense tensors at load.
//
// The format (TFLite's, after TACO): the tensor's dims, plus block dims for
// blocked dims, are visited in `traversal_order`; each level is DENSE (all
// `dense_size` positions) or SPARSE_CSR (for position p of the level above,
// the indices array_indices[array_segments[p] .. array_segments[p + 1])). The
// stored values follow in visiting order. Every index, segment and count is
// checked: a hostile file gets an error, never an out-of-bounds access.
#include <cstring>

#include "base/str_cat.h"
#include "import/tflite/tflite_builder.h"

namespace iskra::tflite {

namespace {

constexpr size_t kMaxLevels = 16;

// One SparseIndexVector (int32, uint16 or uint8 values) as int64s.
Result<std::vector<int64_t>> index_vector(schema::SparseIndexVector type, const void* table, const std::string& what) {
  std::vector<int64_t> out;
  auto copy = [&](const auto* vector) {
    if (vector && vector->values())
      for (auto v : *vector->values()) out.push_back(static_cast<int64_t>(v));
  };
  switch (type) {
    case schema::SparseIndexVector::Int32Vector: copy(static_cast<const schema::Int32Vector*>(table)); break;
    case schema::SparseIndexVector::Uint16Vector: copy(static_cast<const schema::Uint16Vector*>(table)); break;
    case schema::SparseIndexVector::Uint8Vector: copy(static_cast<const schema::Uint8Vector*>(table)); break;
    default: return invalid_model(what, ": a sparse dimension without index vectors");
  }
  return out;
}

struct Level {
  bool dense = true;
  int64_t size = 0;                 // positions of a dense level; bound of a sparse level's indices
  std::vector<int64_t> segments;    // sparse levels
  std::vector<int64_t> indices;
};

class Densifier {
 public:
  Densifier(std::vector<Level> levels, std::vector<int> traversal, std::vector<int> block_map,
            std::vector<int64_t> block_size, const Shape& shape, size_t elem, const uint8_t* src, size_t src_count,
            uint8_t* dst, const std::string& what)
      : levels_(std::move(levels)), traversal_(std::move(traversal)), block_map_(std::move(block_map)),
        block_size_(std::move(block_size)), shape_(shape), elem_(elem), src_(src), src_count_(src_count), dst_(dst),
        what_(what), position_(levels_.size()) {}

  Status run() {
    ISKRA_RETURN_IF_ERROR(visit(0, 0));
    if (next_ != src_count_)
      return invalid_model(what_, ": the sparse data holds ", src_count_, " values, the indices place ", next_);
    return Status::ok();
  }

 private:
  Status visit(size_t level, int64_t parent) {
    if (level == levels_.size()) return place();
    const Level& l = levels_[level];
    if (l.dense) {
      for (int64_t i = 0; i < l.size; ++i) {
        position_[level] = i;
        ISKRA_RETURN_IF_ERROR(visit(level + 1, parent * l.size + i));
      }
      return Status::ok();
    }
    if (parent < 0 || static_cast<size_t>(parent) + 1 >= l.segments.size())
      return invalid_model(what_, ": sparse level ", level, " has no segment ", parent);
    const int64_t begin = l.segments[static_cast<size_t>(parent)], end = l.segments[static_cast<size_t>(parent) + 1];
    if (begin < 0 || end < begin || static_cast<size_t>(end) > l.indices.size())
      return invalid_model(what_, ": sparse level ", level, " segment ", parent, " [", begin, ", ", end,
                           ") is out of range");
    for (int64_t j = begin; j < end; ++j) {
      const int64_t index = l.indices[static_cast<size_t>(j)];
      if (index < 0 || index >= l.size)
        return invalid_model(what_, ": sparse level ", level, " index ", index, " is out of range [0, ", l.size, ")");
      position_[level] = index;
      ISKRA_RETURN_IF_ERROR(visit(level + 1, j));
    }
    return Status::ok();
  }

  Status place() {
    if (next_ >= src_count_) return invalid_model(what_, ": the indices place more values than the sparse data holds");
    const size_t rank = shape_.size();
    int64_t coords[kMaxLevels] = {};
    for (size_t level = 0; level < rank; ++level) coords[traversal_[level]] = position_[level];
    for (size_t level = rank; level < levels_.size(); ++level) {
      const size_t block = static_cast<size_t>(traversal_[level]) - rank;
      const int dim = block_map_[block];
      coords[dim] = coords[dim] * block_size_[block] + position_[level];
    }
    int64_t flat = 0;
    for (size_t d = 0; d < rank; ++d) flat = flat * shape_[d] + coords[d];  // in range: sizes checked up front
    std::memcpy(dst_ + static_cast<size_t>(flat) * elem_, src_ + next_ * elem_, elem_);
    ++next_;
    return Status::ok();
  }

  std::vector<Level> levels_;
  std::vector<int> traversal_, block_map_;
  std::vector<int64_t> block_size_;
  const Shape& shape_;
  size_t elem_;
  const uint8_t* src_;
  size_t src_count_;
  uint8_t* dst_;
  const std::string& what_;
  std::vector<int64_t> position_;
  size_t next_ = 0;
};

}  // namespace

Result<Tensor> densify(const schema::SparsityParameters& sparsity, DType dtype, const Shape& shape,
                       const uint8_t* data, size_t bytes, const std::string& what) {
  const size_t rank = shape.size();
  const auto* order = sparsity.traversal_order();
  const auto* metadata = sparsity.dim_metadata();
  const size_t levels = order ? order->size() : 0;
  const size_t blocks = sparsity.block_map() ? sparsity.block_map()->size() : 0;
  if (levels != rank + blocks || !metadata || metadata->size() != levels || levels > kMaxLevels)
    return invalid_model(what, ": sparsity with ", levels, " traversal levels, ", metadata ? metadata->size() : 0,
                         " dim metadata and ", blocks, " blocks for a tensor of rank ", rank);
  std::vector<int> traversal(levels), block_map(blocks);
  std::vector<bool> seen(levels, false);
  for (size_t l = 0; l < levels; ++l) {
    const int t = order->Get(static_cast<flatbuffers::uoffset_t>(l));
    if (t < 0 || static_cast<size_t>(t) >= levels || seen[static_cast<size_t>(t)] || (l < rank) != (static_cast<size_t>(t) < rank))
      return invalid_model(what, ": traversal order entry ", l, " (", t, ") is not a valid dimension");
    seen[static_cast<size_t>(t)] = true;
    traversal[l] = t;
  }
  std::vector<int64_t> block_size(blocks, 1), expanded(shape.begin(), shape.end());
  expanded.resize(levels, 0);
  std::vector<bool> blocked(rank, false);
  for (size_t b = 0; b < blocks; ++b) {
    const int d = sparsity.block_map()->Get(static_cast<flatbuffers::uoffset_t>(b));
    if (d < 0 || static_cast<size_t>(d) >= rank || blocked[static_cast<size_t>(d)])
      return invalid_model(what, ": block map entry ", b, " (", d, ") is not a valid dimension");
    blocked[static_cast<size_t>(d)] = true;
    block_map[b] = d;
  }
  // Block sizes come from the dense_size of the block dims' levels.
  for (size_t l = rank; l < levels; ++l) {
    const size_t b = static_cast<size_t>(traversal[l]) - rank;
    const int64_t size = metadata->Get(static_cast<flatbuffers::uoffset_t>(l))->dense_size();
    const int64_t dim = shape[static_cast<size_t>(block_map[b])];
    if (size <= 0 || dim % size != 0)
      return invalid_model(what, ": block size ", size, " does not divide dimension ", block_map[b], " (", dim, ")");
    block_size[b] = size;
    expanded[static_cast<size_t>(block_map[b])] = dim / size;
    expanded[rank + b] = size;
  }
  std::vector<Level> level_info(levels);
  for (size_t l = 0; l < levels; ++l) {
    const schema::DimensionMetadata* m = metadata->Get(static_cast<flatbuffers::uoffset_t>(l));
    Level& level = level_info[l];
    level.size = expanded[static_cast<size_t>(traversal[l])];
    level.dense = m->format() == schema::DimensionType::DENSE;
    if (level.dense) {
      if (m->dense_size() != level.size)
        return invalid_model(what, ": dense level ", l, " has size ", m->dense_size(), ", the dimension ", level.size);
      continue;
    }
    ISKRA_ASSIGN_OR_RETURN(level.segments, index_vector(m->array_segments_type(), m->array_segments(), what));
    ISKRA_ASSIGN_OR_RETURN(level.indices, index_vector(m->array_indices_type(), m->array_indices(), what));
  }
  const size_t elem = dtype_size(dtype);
  if (elem == 0 || bytes % elem != 0) return invalid_model(what, ": ", bytes, " bytes of sparse data are not whole values");
  ISKRA_ASSIGN_OR_RETURN(Tensor dense, Tensor::allocate(dtype, shape));
  Densifier densifier(std::move(level_info), std::move(traversal), std::move(block_map), std::move(block_size), shape,
                      elem, data, bytes / elem, static_cast<uint8_t*>(dense.raw_data()), what);
  ISKRA_RETURN_IF_ERROR(densifier.run());
  return dense;
}

}  // namespace iskra::tflite
