#include "base/npy.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace iskra {
namespace {

// Builds an .npy image by hand: preamble for `major`, then `header` verbatim, then `data`.
std::vector<uint8_t> make_npy(const std::string& header, const std::vector<uint8_t>& data, int major = 1) {
  std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
  const size_t len_bytes = major == 1 ? 2 : 4;
  for (size_t i = 0; i < len_bytes; ++i) out.push_back(static_cast<uint8_t>(header.size() >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

Result<NpyArray> parse(const std::vector<uint8_t>& bytes) { return parse_npy(bytes.data(), bytes.size(), "t.npy"); }

std::vector<uint8_t> float_bytes(const std::vector<float>& values) {
  std::vector<uint8_t> bytes(values.size() * sizeof(float));
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

TEST(Npy, ParsesNumpyHeader) {
  auto bytes = make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }          \n",
                        float_bytes({1, 2, 3, 4, 5, 6}));
  auto r = parse(bytes);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->descr, "<f4");
  EXPECT_EQ(r->shape, (std::vector<int64_t>{2, 3}));
  ASSERT_EQ(r->data.size(), 24u);
  float v[6];
  std::memcpy(v, r->data.data(), sizeof v);
  EXPECT_EQ(v[5], 6.0f);
}

TEST(Npy, ParsesScalarOneDimAndEmpty) {
  auto scalar = parse(make_npy("{'descr': '<i8', 'fortran_order': False, 'shape': (), }\n",
                               std::vector<uint8_t>(8, 0)));
  ASSERT_TRUE(scalar.is_ok()) << scalar.status().message();
  EXPECT_TRUE(scalar->shape.empty());

  auto vec = parse(make_npy("{'descr':'|u1','fortran_order':False,'shape':(3,)}", {1, 2, 3}));
  ASSERT_TRUE(vec.is_ok()) << vec.status().message();
  EXPECT_EQ(vec->shape, std::vector<int64_t>{3});

  auto empty = parse(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }\n", {}));
  ASSERT_TRUE(empty.is_ok()) << empty.status().message();
  EXPECT_EQ(empty->shape, (std::vector<int64_t>{0, 5}));
  EXPECT_TRUE(empty->data.empty());
}

TEST(Npy, AcceptsKeysInAnyOrderAndNormalizesDescr) {
  auto r = parse(make_npy("{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"=i2\"}\n", {1, 0, 2, 0}));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->descr, "<i2");
  auto b = parse(make_npy("{'descr': '<b1', 'fortran_order': False, 'shape': (1,), }\n", {1}));
  ASSERT_TRUE(b.is_ok()) << b.status().message();
  EXPECT_EQ(b->descr, "|b1");
}

TEST(Npy, ParsesVersion2And3) {
  for (int major : {2, 3}) {
    auto r = parse(make_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }\n",
                            std::vector<uint8_t>(8, 0), major));
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    EXPECT_EQ(r->descr, "<f8");
  }
}

TEST(Npy, RoundTrips) {
  NpyArray a{"<f4", {2, 2}, float_bytes({1.5f, -2, 3, 4})};
  auto bytes = serialize_npy(a);
  EXPECT_EQ(bytes.size() % 64, 16u);  // 64-byte aligned header + 16 data bytes
  auto r = parse(bytes);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->descr, a.descr);
  EXPECT_EQ(r->shape, a.shape);
  EXPECT_EQ(r->data, a.data);

  NpyArray scalar{"|b1", {}, {1}};
  auto s = parse(serialize_npy(scalar));
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  EXPECT_TRUE(s->shape.empty());
  NpyArray one{"<i4", {1}, {7, 0, 0, 0}};
  auto o = parse(serialize_npy(one));
  ASSERT_TRUE(o.is_ok()) << o.status().message();
  EXPECT_EQ(o->shape, std::vector<int64_t>{1});
}

TEST(Npy, FileRoundTrip) {
  const auto path = (std::filesystem::temp_directory_path() / "iskra_test_npy_roundtrip.npy").string();
  NpyArray a{"<i8", {3}, std::vector<uint8_t>(24, 7)};
  ASSERT_TRUE(write_npy_file(path, a).is_ok());
  auto r = read_npy_file(path);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->data, a.data);
  std::remove(path.c_str());

  auto missing = read_npy_file(path);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kIoError);
  EXPECT_NE(missing.status().message().find(path), std::string::npos);
  EXPECT_FALSE(write_npy_file("/nonexistent-dir/x.npy", a).is_ok());
}

TEST(Npy, RejectsFortranOrder) {
  auto r = parse(make_npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }\n", float_bytes({1})));
  EXPECT_TRUE(r.is_ok()) << "one dim: the same layout as C order";
  auto m = parse(make_npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 1, 2), }\n",
                          float_bytes({1, 2, 3, 4})));
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("Fortran"), std::string::npos) << m.status().message();
}

TEST(Npy, RejectsUnknownAndBigEndianDescr) {
  for (const char* descr : {"<c8", "<U4", "|O", "<M8[s]", ">f4", "f", "<f16", ""}) {
    std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (1,), }\n";
    auto r = parse(make_npy(header, std::vector<uint8_t>(4, 0)));
    ASSERT_FALSE(r.is_ok()) << descr;
    EXPECT_NE(r.status().message().find(descr), std::string::npos) << r.status().message();
  }
  // Structured dtypes are lists.
  auto s = parse(make_npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }\n", {}));
  EXPECT_FALSE(s.is_ok());
  // Single-byte types ignore the byte order.
  EXPECT_TRUE(parse(make_npy("{'descr': '>u1', 'fortran_order': False, 'shape': (1,), }\n", {1})).is_ok());
}

TEST(Npy, RejectsDataSizeMismatch) {
  const std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";
  auto short_data = parse(make_npy(header, float_bytes({1, 2, 3})));
  ASSERT_FALSE(short_data.is_ok());
  EXPECT_NE(short_data.status().message().find("truncated"), std::string::npos);
  auto long_data = parse(make_npy(header, float_bytes({1, 2, 3, 4, 5, 6, 7})));
  EXPECT_FALSE(long_data.is_ok());
}

TEST(Npy, RejectsOverflowingShapes) {
  for (const char* shape : {"(4611686018427387904, 4)", "(99999999999999999999,)", "(3037000500, 3037000500)"}) {
    std::string header = std::string("{'descr': '<f4', 'fortran_order': False, 'shape': ") + shape + ", }\n";
    auto r = parse(make_npy(header, {}));
    EXPECT_FALSE(r.is_ok()) << shape;
  }
  std::string many = "(";
  for (int i = 0; i < 100; ++i) many += "1,";
  many += ")";
  EXPECT_FALSE(parse(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': " + many + "}", {})).is_ok());
}

TEST(Npy, RejectsMalformedHeaders) {
  const char* headers[] = {
      "",
      "not a dict",
      "{'descr': '<f4', 'fortran_order': False}",                        // no shape
      "{'descr': '<f4', 'shape': (1,)}",                                 // no fortran_order
      "{'fortran_order': False, 'shape': (1,)}",                         // no descr
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}",  // extra key
      "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
      "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1.5,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': [1]}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)",
      "{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}",
      "{'descr': '<f4' 'fortran_order': False, 'shape': (1,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} trailing",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1 1)}",
      "{'descr': '\\x3cf4', 'fortran_order': False, 'shape': (1,)}",
  };
  for (const char* h : headers) {
    auto r = parse(make_npy(h, float_bytes({1})));
    ASSERT_FALSE(r.is_ok()) << h;
    EXPECT_NE(r.status().message().find("t.npy"), std::string::npos) << r.status().message();
  }
}

TEST(Npy, RejectsBadPreamble) {
  EXPECT_FALSE(parse_npy(nullptr, 0, "t.npy").is_ok());
  std::vector<uint8_t> good = make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n", float_bytes({1}));
  auto bad_magic = good;
  bad_magic[1] = 'X';
  EXPECT_NE(parse(bad_magic).status().message().find("magic"), std::string::npos);
  auto bad_version = good;
  bad_version[6] = 4;
  EXPECT_FALSE(parse(bad_version).is_ok());
  auto huge_header = good;
  huge_header[8] = 0xff;
  huge_header[9] = 0xff;
  EXPECT_FALSE(parse(huge_header).is_ok());
  // Every truncation of a valid file is an error, never a crash.
  for (size_t n = 0; n < good.size(); ++n) {
    std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_FALSE(parse_npy(cut.data(), cut.size(), "t.npy").is_ok()) << n;
  }
}

TEST(Npy, SurvivesEveryByteFlip) {
  // A cheap fuzz: flip each byte of a valid file to a few values; nothing may crash.
  std::vector<uint8_t> good = serialize_npy(NpyArray{"<f4", {2, 3}, float_bytes({1, 2, 3, 4, 5, 6})});
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t v : {uint8_t(0), uint8_t('('), uint8_t(')'), uint8_t(','), uint8_t('9'), uint8_t(0xff)}) {
      auto bytes = good;
      bytes[i] = v;
      (void)parse(bytes);
    }
  }
}

}  // namespace
}  // namespace iskra
