// .npy reading and writing.
//
// Format (numpy.lib.format): the magic "\x93NUMPY", a major and a minor
// version byte, the header length (uint16 LE for 1.0, uint32 LE for 2.0/3.0),
// then the header: a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and ended by '\n', then the raw element bytes.
// Every field read from the file is checked: a malformed file gives an error.
#include "base/npy.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>

#include "base/checked_math.h"

namespace iskra {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kMaxRank = 64;  // numpy allows 32 (64 since numpy 2.0)

// A parsed header value: a string, a bool or a tuple of ints.
struct HeaderValue {
  enum class Kind { kString, kBool, kTuple } kind = Kind::kString;
  std::string text;
  bool flag = false;
  std::vector<int64_t> ints;
};

// A recursive-descent parser for the tiny subset of Python literals numpy writes.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& what) : text_(text), what_(what) {}

  Status parse(std::optional<std::string>& descr, std::optional<bool>& fortran,
               std::optional<std::vector<int64_t>>& shape) {
    skip_space();
    if (!consume('{')) return error("the header is not a dict");
    while (true) {
      skip_space();
      if (consume('}')) break;
      std::string key;
      ISKRA_RETURN_IF_ERROR(parse_string(key));
      skip_space();
      if (!consume(':')) return error("expected ':' after key '", key, "'");
      skip_space();
      HeaderValue value;
      ISKRA_RETURN_IF_ERROR(parse_value(value));
      if (key == "descr") {
        if (descr) return error("duplicate key 'descr'");
        if (value.kind != HeaderValue::Kind::kString)
          return unsupported(what_, ": structured .npy dtypes are not supported");
        descr = value.text;
      } else if (key == "fortran_order") {
        if (fortran) return error("duplicate key 'fortran_order'");
        if (value.kind != HeaderValue::Kind::kBool) return error("'fortran_order' is not True or False");
        fortran = value.flag;
      } else if (key == "shape") {
        if (shape) return error("duplicate key 'shape'");
        if (value.kind != HeaderValue::Kind::kTuple) return error("'shape' is not a tuple");
        shape = value.ints;
      } else {
        return error("unexpected key '", key, "'");
      }
      skip_space();
      if (consume(',')) continue;
      skip_space();
      if (consume('}')) break;
      return error("expected ',' or '}' in the header dict");
    }
    skip_space();
    if (pos_ != text_.size()) return error("unexpected text after the header dict");
    if (!descr) return error("the header has no 'descr'");
    if (!fortran) return error("the header has no 'fortran_order'");
    if (!shape) return error("the header has no 'shape'");
    return Status::ok();
  }

 private:
  template <typename... Args>
  Status error(const Args&... args) const {
    return invalid_argument(what_, ": malformed .npy header: ", args...);
  }

  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool consume_word(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Status parse_string(std::string& out) {
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"'))
      return error("expected a quoted string");
    const char quote = text_[pos_++];
    const size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\') return error("escapes in header strings are not supported");
      ++pos_;
    }
    if (pos_ >= text_.size()) return error("unterminated string");
    out = std::string(text_.substr(start, pos_ - start));
    ++pos_;
    return Status::ok();
  }

  Status parse_int(int64_t& out) {
    const size_t start = pos_;
    int64_t value = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      auto next = checked_mul(value, 10);
      if (next) next = checked_add(*next, text_[pos_] - '0');
      if (!next) return error("dimension too large");
      value = *next;
      ++pos_;
    }
    if (pos_ == start) return error("expected a non-negative integer in 'shape'");
    // Python 2 era files may write long integers as "3L".
    consume('L');
    out = value;
    return Status::ok();
  }

  Status parse_value(HeaderValue& out) {
    if (pos_ >= text_.size()) return error("missing value");
    const char c = text_[pos_];
    if (c == '\'' || c == '"') {
      out.kind = HeaderValue::Kind::kString;
      return parse_string(out.text);
    }
    if (consume_word("True")) {
      out.kind = HeaderValue::Kind::kBool;
      out.flag = true;
      return Status::ok();
    }
    if (consume_word("False")) {
      out.kind = HeaderValue::Kind::kBool;
      out.flag = false;
      return Status::ok();
    }
    if (c == '[') return error("a list value (structured dtype?) is not supported");
    if (!consume('(')) return error("unexpected value");
    out.kind = HeaderValue::Kind::kTuple;
    while (true) {
      skip_space();
      if (consume(')')) break;
      if (out.ints.size() >= kMaxRank) return error("more than ", kMaxRank, " dimensions");
      int64_t dim = 0;
      ISKRA_RETURN_IF_ERROR(parse_int(dim));
      out.ints.push_back(dim);
      skip_space();
      if (consume(',')) continue;
      skip_space();
      if (consume(')')) break;
      return error("expected ',' or ')' in 'shape'");
    }
    return Status::ok();
  }

  std::string_view text_;
  const std::string& what_;
  size_t pos_ = 0;
};

// Normalizes a numpy descr to the form numpy writes ("<f4", "|b1") and
// returns its item size; fails for big-endian, non-numeric or unknown types.
Status normalize_descr(const std::string& descr, const std::string& what, std::string& normalized,
                       int64_t& item_size) {
  static constexpr struct {
    const char* code;
    int64_t size;
  } kKnown[] = {{"b1", 1}, {"i1", 1}, {"u1", 1}, {"i2", 2}, {"u2", 2}, {"i4", 4},
                {"u4", 4}, {"i8", 8}, {"u8", 8}, {"f2", 2}, {"f4", 4}, {"f8", 8}};
  std::string_view body = descr;
  char order = '=';
  if (!body.empty() && (body[0] == '<' || body[0] == '>' || body[0] == '|' || body[0] == '=')) {
    order = body[0];
    body.remove_prefix(1);
  }
  for (const auto& known : kKnown) {
    if (body != known.code) continue;
    if (order == '>' && known.size > 1)
      return unsupported(what, ": big-endian .npy data ('", descr, "') is not supported");
    normalized = std::string(known.size == 1 ? "|" : "<") + known.code;
    item_size = known.size;
    return Status::ok();
  }
  return unsupported(what, ": unsupported .npy dtype '", descr,
                     "' (supported: bool, int8-64, uint8-64, float16/32/64)");
}

uint32_t read_le(const uint8_t* p, size_t bytes) {
  uint32_t v = 0;
  for (size_t i = 0; i < bytes; ++i) v |= uint32_t(p[i]) << (8 * i);
  return v;
}

std::string shape_literal(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

// Parses everything but the data; sets `data_offset` to where the data starts.
Result<NpyArray> parse_header(const uint8_t* bytes, size_t size, const std::string& what,
                              size_t& data_offset) {
  if (size < kMagicSize + 2 || std::memcmp(bytes, kMagic, kMagicSize) != 0)
    return invalid_argument(what, ": not a .npy file (bad magic)");
  const uint8_t major = bytes[6];
  const uint8_t minor = bytes[7];
  if (major < 1 || major > 3 || minor != 0)
    return unsupported(what, ": unsupported .npy format version ", int(major), ".", int(minor));
  const size_t len_bytes = major == 1 ? 2 : 4;
  const size_t header_start = kMagicSize + 2 + len_bytes;
  if (size < header_start) return invalid_argument(what, ": truncated .npy file (no header length)");
  const uint64_t header_len = read_le(bytes + kMagicSize + 2, len_bytes);
  if (header_len > size - header_start)
    return invalid_argument(what, ": truncated .npy file (header of ", header_len, " bytes, file has ",
                            size - header_start, " after the preamble)");
  const std::string_view header(reinterpret_cast<const char*>(bytes + header_start),
                                static_cast<size_t>(header_len));
  if (major < 3) {
    for (char c : header)
      if (static_cast<unsigned char>(c) >= 0x80)
        return invalid_argument(what, ": malformed .npy header: non-ASCII byte in a version ", int(major),
                                ".0 header");
  }

  std::optional<std::string> descr;
  std::optional<bool> fortran;
  std::optional<std::vector<int64_t>> shape;
  ISKRA_RETURN_IF_ERROR(HeaderParser(header, what).parse(descr, fortran, shape));
  // Fortran order is the same layout as C order when at most one dim exceeds 1.
  size_t non_unit_dims = 0;
  for (int64_t d : *shape) non_unit_dims += d > 1 ? 1 : 0;
  if (*fortran && non_unit_dims > 1)
    return unsupported(what, ": Fortran-order .npy arrays are not supported; save a C-order array "
                             "(numpy.ascontiguousarray)");

  NpyArray array;
  int64_t item_size = 0;
  ISKRA_RETURN_IF_ERROR(normalize_descr(*descr, what, array.descr, item_size));
  array.shape = std::move(*shape);

  auto count = checked_element_count(array.shape);
  auto expected = count ? checked_mul(*count, item_size) : std::nullopt;
  if (!expected) return invalid_argument(what, ": .npy shape is too large");
  data_offset = header_start + static_cast<size_t>(header_len);
  const uint64_t available = size - data_offset;
  if (static_cast<uint64_t>(*expected) != available)
    return invalid_argument(what, ": .npy data is ", available, " bytes, but dtype ", array.descr,
                            " and shape ", shape_literal(array.shape), " need ", *expected,
                            available < static_cast<uint64_t>(*expected) ? " (truncated file)" : "");
  return array;
}

}  // namespace

Result<NpyArray> parse_npy(const void* bytes, size_t size, const std::string& what) {
  if (!bytes && size) return invalid_argument(what, ": no data");
  const auto* p = static_cast<const uint8_t*>(bytes);
  size_t data_offset = 0;
  ISKRA_ASSIGN_OR_RETURN(NpyArray array, parse_header(p, size, what, data_offset));
  array.data.assign(p + data_offset, p + size);
  return array;
}

Result<NpyArray> read_npy_file(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) return io_error(path, ": cannot open: ", std::strerror(errno));
  std::vector<uint8_t> bytes;
  uint8_t chunk[1 << 16];
  size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof chunk, file)) > 0) bytes.insert(bytes.end(), chunk, chunk + n);
  const bool failed = std::ferror(file) != 0;
  const int err = errno;
  std::fclose(file);
  if (failed) return io_error(path, ": read failed: ", std::strerror(err));

  size_t data_offset = 0;
  ISKRA_ASSIGN_OR_RETURN(NpyArray array, parse_header(bytes.data(), bytes.size(), path, data_offset));
  // Reuse the file buffer for the data instead of copying it.
  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(data_offset));
  array.data = std::move(bytes);
  return array;
}

std::vector<uint8_t> serialize_npy(const NpyArray& array) {
  std::string header = "{'descr': '" + array.descr + "', 'fortran_order': False, 'shape': " +
                       shape_literal(array.shape) + ", }";
  // Version 1.0 stores the header length in 16 bits; 2.0 in 32 bits. Pad so
  // that the data starts 64-byte aligned, as numpy does.
  const bool v1 = header.size() + 1 + 64 <= 65535;
  const size_t preamble = kMagicSize + 2 + (v1 ? 2 : 4);
  const size_t unpadded = preamble + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';

  // Filled with memcpy into a sized buffer (vector::insert trips a GCC 12
  // -Wstringop-overflow false positive here).
  const size_t len_bytes = v1 ? 2 : 4;
  std::vector<uint8_t> out(preamble + header.size() + array.data.size());
  std::memcpy(out.data(), kMagic, kMagicSize);
  out[kMagicSize] = v1 ? 1 : 2;
  out[kMagicSize + 1] = 0;
  for (size_t i = 0; i < len_bytes; ++i) out[kMagicSize + 2 + i] = static_cast<uint8_t>(header.size() >> (8 * i));
  std::memcpy(out.data() + preamble, header.data(), header.size());
  if (!array.data.empty())
    std::memcpy(out.data() + preamble + header.size(), array.data.data(), array.data.size());
  return out;
}

Status write_npy_file(const std::string& path, const NpyArray& array) {
  const std::vector<uint8_t> bytes = serialize_npy(array);
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (!file) return io_error(path, ": cannot create: ", std::strerror(errno));
  const size_t written = std::fwrite(bytes.data(), 1, bytes.size(), file);
  int err = written == bytes.size() ? 0 : errno;
  if (std::fclose(file) != 0 && err == 0) err = errno ? errno : EIO;
  if (written != bytes.size() || err != 0)
    return io_error(path, ": write failed: ", std::strerror(err ? err : EIO));
  return Status::ok();
}

}  // namespace iskra
