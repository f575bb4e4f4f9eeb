#include "import/onnx/onnx_wire.h"

namespace iskra {

namespace {

constexpr uint32_t kModelGraphField = 7;
constexpr uint32_t kGraphInitializerField = 5;
constexpr uint32_t kTensorRawDataField = 9;
constexpr uint32_t kLengthDelimited = 2;

// A bounds-checked reader of protobuf wire format.
class WireReader {
 public:
  WireReader(const uint8_t* begin, const uint8_t* end) : pos_(begin), end_(end) {}
  bool done() const { return pos_ == end_; }
  const uint8_t* pos() const { return pos_; }

  bool varint(uint64_t& value) {
    value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ == end_) return false;
      const uint8_t byte = *pos_++;
      value |= uint64_t{byte & 0x7fu} << shift;
      if (!(byte & 0x80)) return true;
    }
    return false;
  }

  // Reads one field's key and skips or delimits its payload: [field_begin,
  // pos()) is the whole field; for length-delimited fields `payload` is set.
  bool field(uint32_t& number, uint32_t& wire_type, std::span<const uint8_t>& payload) {
    uint64_t key;
    if (!varint(key) || (key >> 3) == 0 || (key >> 3) > 0x1fffffff) return false;
    number = static_cast<uint32_t>(key >> 3);
    wire_type = static_cast<uint32_t>(key & 7);
    payload = {};
    switch (wire_type) {
      case 0: {
        uint64_t ignored;
        return varint(ignored);
      }
      case 1: return skip(8);
      case 5: return skip(4);
      case kLengthDelimited: {
        uint64_t length;
        if (!varint(length) || length > static_cast<uint64_t>(end_ - pos_)) return false;
        payload = {pos_, static_cast<size_t>(length)};
        pos_ += length;
        return true;
      }
      default: return false;  // groups (3, 4) are not used by ONNX
    }
  }

 private:
  bool skip(size_t n) {
    if (static_cast<size_t>(end_ - pos_) < n) return false;
    pos_ += n;
    return true;
  }
  const uint8_t* pos_;
  const uint8_t* end_;
};

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_field(std::string& out, uint32_t number, const std::string& payload) {
  put_varint(out, (uint64_t{number} << 3) | kLengthDelimited);
  put_varint(out, payload.size());
  out += payload;
}

void put_bytes(std::string& out, const uint8_t* begin, const uint8_t* end) {
  out.append(reinterpret_cast<const char*>(begin), static_cast<size_t>(end - begin));
}

// Copies a message's fields except the length-delimited ones numbered `cut`,
// passing those to `on_cut` (which may append a replacement to `out`).
template <typename OnCut>
bool copy_except(std::span<const uint8_t> message, uint32_t cut, std::string& out, OnCut on_cut) {
  WireReader reader(message.data(), message.data() + message.size());
  while (!reader.done()) {
    const uint8_t* start = reader.pos();
    uint32_t number, wire_type;
    std::span<const uint8_t> payload;
    if (!reader.field(number, wire_type, payload)) return false;
    if (number == cut && wire_type == kLengthDelimited) {
      if (!on_cut(payload, out)) return false;
    } else {
      put_bytes(out, start, reader.pos());
    }
  }
  return true;
}

}  // namespace

std::optional<SlimOnnxModel> slim_onnx_model(const void* data, size_t size) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  SlimOnnxModel slim;
  slim.bytes.reserve(1 << 16);
  int graphs = 0;
  auto on_tensor = [&](std::span<const uint8_t> tensor, std::string& graph_out) {
    std::optional<std::span<const uint8_t>> raw;
    std::string slim_tensor;
    if (!copy_except(tensor, kTensorRawDataField, slim_tensor, [&](std::span<const uint8_t> payload, std::string&) {
          raw = payload;  // protobuf keeps the last occurrence of a bytes field
          return true;
        }))
      return false;
    slim.initializer_raw_data.push_back(raw);
    put_field(graph_out, kGraphInitializerField, slim_tensor);
    return true;
  };
  auto on_graph = [&](std::span<const uint8_t> graph, std::string& model_out) {
    if (++graphs > 1) return false;  // a repeated graph field would be merged: leave that to protobuf
    std::string slim_graph;
    if (!copy_except(graph, kGraphInitializerField, slim_graph, on_tensor)) return false;
    put_field(model_out, kModelGraphField, slim_graph);
    return true;
  };
  if (!copy_except({bytes, size}, kModelGraphField, slim.bytes, on_graph)) return std::nullopt;
  return slim;
}

}  // namespace iskra
