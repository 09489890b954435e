#include "common/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"

namespace eqat {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string FreshDir(const std::string& name) {
  std::string dir = JoinPath(::testing::TempDir(), absl::StrCat("eqat_st_", getpid(), "_", name));
  EXPECT_TRUE(RemoveAll(dir).ok());
  EXPECT_TRUE(MakeDirs(dir).ok());
  return dir;
}

template <typename T>
std::string Bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// A raw file: 8-byte LE header length, header, data.
std::string Raw(const std::string& header, const std::string& data, uint64_t len_override = 0) {
  uint64_t n = len_override ? len_override : header.size();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

uint32_t F2U(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

TEST(SafetensorsTest, DTypes) {
  EXPECT_EQ(DTypeSize(DType::kF64), 8u);
  EXPECT_EQ(DTypeSize(DType::kF32), 4u);
  EXPECT_EQ(DTypeSize(DType::kBF16), 2u);
  EXPECT_EQ(DTypeSize(DType::kBool), 1u);
  for (DType d : {DType::kF64, DType::kF32, DType::kF16, DType::kBF16, DType::kI64, DType::kI32,
                  DType::kI16, DType::kI8, DType::kU8, DType::kBool}) {
    auto p = ParseDType(DTypeName(d));
    ASSERT_TRUE(p.ok()) << DTypeName(d);
    EXPECT_EQ(*p, d);
  }
  EXPECT_EQ(DTypeName(DType::kBF16), "BF16");
  EXPECT_EQ(ParseDType("f32").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseDType("F8_E4M3").ok());
}

TEST(SafetensorsTest, HalfConversion) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(0.0f), 0x0000);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65519.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);  // tie rounds to even -> inf
  EXPECT_EQ(FloatToHalf(1e10f), 0x7c00);
  EXPECT_EQ(FloatToHalf(-std::numeric_limits<float>::infinity()), 0xfc00);
  uint16_t nan = FloatToHalf(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x03ff, 0);
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7e00)));
  EXPECT_TRUE(std::isinf(HalfToFloat(0x7c00)));
  // Ties between normals go to the even mantissa.
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3c01);
  // Subnormals (unit 2^-24).
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25)), 0x0000);  // tie -> even (0)
  EXPECT_EQ(FloatToHalf(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(FloatToHalf(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 units -> 2
  EXPECT_EQ(FloatToHalf(std::ldexp(5.0f, -25)), 0x0002);  // 2.5 units -> 2
  EXPECT_EQ(FloatToHalf(-std::ldexp(1023.0f, -24)), 0x83ff);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(FloatToHalf(std::ldexp(1023.5f, -24)), 0x0400);  // rounds up into normals
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(HalfToFloat(0x83ff), -std::ldexp(1023.0f, -24));
  EXPECT_EQ(HalfToFloat(0x3555), 0.333251953125f);
  // Every non-NaN half survives half -> float -> half.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;
    ASSERT_EQ(FloatToHalf(HalfToFloat(static_cast<uint16_t>(h))), h) << std::hex << h;
  }
}

TEST(SafetensorsTest, BFloat16Conversion) {
  EXPECT_EQ(FloatToBFloat16(1.0f), 0x3f80);
  EXPECT_EQ(FloatToBFloat16(-3.0f), 0xc040);
  EXPECT_EQ(FloatToBFloat16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);      // tie -> even
  EXPECT_EQ(FloatToBFloat16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);  // tie -> even
  EXPECT_EQ(FloatToBFloat16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 0x3f81);
  EXPECT_EQ(FloatToBFloat16(std::numeric_limits<float>::max()), 0x7f80);  // -> inf
  EXPECT_EQ(FloatToBFloat16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(FloatToBFloat16(std::ldexp(1.0f, -133)), 0x0001);  // bf16 subnormal
  uint16_t nan = FloatToBFloat16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(nan)));
  // A NaN whose payload lives only in the low bits must stay NaN.
  float low_nan;
  uint32_t bits = 0x7f800001u;
  std::memcpy(&low_nan, &bits, 4);
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(FloatToBFloat16(low_nan))));
  EXPECT_EQ(BFloat16ToFloat(0xc040), -3.0f);
  for (uint32_t b = 0; b < 0x10000; ++b) {
    if ((b & 0x7f80) == 0x7f80 && (b & 0x7f)) continue;
    ASSERT_EQ(FloatToBFloat16(BFloat16ToFloat(static_cast<uint16_t>(b))), b) << std::hex << b;
  }
}

TEST(SafetensorsTest, WriteThenReadBitExact) {
  std::string dir = FreshDir("roundtrip");
  std::string path = JoinPath(dir, "t.safetensors");
  std::vector<float> f32 = {1.5f, -0.0f, std::numeric_limits<float>::denorm_min(), 3.4e38f,
                            -7.25f, 0.1f};
  std::vector<uint16_t> f16, bf16;
  for (float v : {0.5f, -1.25f, 65504.0f, 1e-6f}) f16.push_back(FloatToHalf(v));
  for (float v : {3.140625f, -2.0f, 1e30f}) bf16.push_back(FloatToBFloat16(v));
  std::vector<int32_t> i32 = {0, -1, 2147483647, -2147483647 - 1, 42};
  std::vector<TensorToWrite> ts = {
      {"w.f32", DType::kF32, {2, 3}, Bytes(f32)},
      {"w.f16", DType::kF16, {4}, Bytes(f16)},
      {"w.bf16", DType::kBF16, {3, 1}, Bytes(bf16)},
      {"w.i32", DType::kI32, {5}, Bytes(i32)},
      {"scalar", DType::kF64, {}, Bytes(std::vector<double>{2.5})},
      {"empty", DType::kU8, {0, 7}, ""},
  };
  std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "a \"quoted\" value"}};
  ASSERT_TRUE(WriteSafetensors(path, ts, meta).ok());

  // Header length is a multiple of 8 and padded with spaces.
  auto raw = ReadFile(path);
  ASSERT_TRUE(raw.ok());
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>((*raw)[i]);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ((*raw)[0] & 0xff, static_cast<int>(n & 0xff));
  EXPECT_EQ((*raw)[7], 0);
  EXPECT_EQ((*raw)[8], '{');
  std::string header = raw->substr(8, n);
  EXPECT_EQ(header.find_last_not_of(' '), header.rfind('}'));
  EXPECT_THAT(header, HasSubstr("\"__metadata__\""));

  auto f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  const auto& infos = (*f)->tensors();
  ASSERT_EQ(infos.size(), ts.size());
  uint64_t expect_begin = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    SCOPED_TRACE(ts[i].name);
    EXPECT_EQ(infos[i].name, ts[i].name);  // header order = given order
    EXPECT_EQ(infos[i].dtype, ts[i].dtype);
    EXPECT_EQ(infos[i].shape, ts[i].shape);
    EXPECT_EQ(infos[i].begin, expect_begin);  // contiguous
    EXPECT_EQ(infos[i].nbytes(), ts[i].data.size());
    expect_begin = infos[i].end;
    auto view = (*f)->Get(ts[i].name);
    ASSERT_TRUE(view.ok());
    EXPECT_EQ(view->info, &infos[i]);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(view->data), view->info->nbytes()),
              ts[i].data);
  }
  EXPECT_EQ(raw->size(), 8 + n + expect_begin);
  EXPECT_EQ(infos[4].numel(), 1);
  EXPECT_EQ(infos[5].numel(), 0);
  EXPECT_EQ((*f)->metadata(), meta);
  EXPECT_EQ((*f)->path(), path);
  // Decoded values.
  const TensorView v16 = *(*f)->Get("w.f16");
  uint16_t h;
  std::memcpy(&h, v16.data + 2, 2);
  EXPECT_EQ(HalfToFloat(h), -1.25f);
  const TensorView vf = *(*f)->Get("w.f32");
  float x;
  std::memcpy(&x, vf.data + 4, 4);
  EXPECT_EQ(F2U(x), 0x80000000u);  // -0.0 kept bit-exact

  EXPECT_EQ((*f)->Find("missing"), nullptr);
  auto missing = (*f)->Get("missing");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("missing"));
  EXPECT_THAT(missing.status().message(), HasSubstr(path));
}

TEST(SafetensorsTest, NoMetadataOmitsKey) {
  std::string dir = FreshDir("nometa");
  std::string path = JoinPath(dir, "a.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"x", DType::kI8, {3}, "abc"}}).ok());
  auto raw = ReadFile(path);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->find("__metadata__"), std::string::npos);
  EXPECT_EQ(raw->substr(raw->size() - 3), "abc");
  EXPECT_EQ((raw->size() - 3) % 8, 0u);  // data section starts 8-aligned
}

TEST(SafetensorsTest, WriteErrorsLeaveDestinationUntouched) {
  std::string dir = FreshDir("writeerr");
  std::string path = JoinPath(dir, "w.safetensors");
  ASSERT_TRUE(WriteFileAtomic(path, "old contents").ok());
  struct Case {
    std::vector<TensorToWrite> ts;
    const char* why;
  };
  const Case cases[] = {
      {{{"a", DType::kF32, {1}, "abcd"}, {"a", DType::kF32, {1}, "abcd"}}, "duplicate"},
      {{{"a", DType::kF32, {2, 2}, "abcd"}}, "needs 16"},
      {{{"a", static_cast<DType>(99), {1}, "a"}}, "unknown dtype"},
      {{{"a", DType::kF32, {-1}, ""}}, "negative"},
      {{{"__metadata__", DType::kU8, {1}, "a"}}, "invalid tensor name"},
  };
  for (const auto& c : cases) {
    absl::Status st = WriteSafetensors(path, c.ts);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.why;
    EXPECT_THAT(st.message(), HasSubstr(c.why));
    EXPECT_EQ(*ReadFile(path), "old contents");
  }
  // An unwritable destination fails without leaving temp files behind.
  EXPECT_FALSE(WriteSafetensors(JoinPath(dir, "no/such/dir/x.safetensors"),
                                {{"a", DType::kU8, {1}, "a"}})
                   .ok());
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

struct BadFile {
  const char* name;
  std::string contents;
  std::vector<std::string> want;  // substrings of the error message
};

TEST(SafetensorsTest, RejectsBadFiles) {
  std::string dir = FreshDir("bad");
  const std::string f32x4 = R"("dtype":"F32","shape":[2,2])";
  const std::vector<BadFile> cases = {
      {"short", "abcde", {"truncated"}},
      {"empty", "", {"truncated"}},
      {"len_beyond", Raw("{}", "", 1000), {"header length 1000", "beyond"}},
      {"len_huge", Raw("{}", "", 200ull << 20), {"100 MiB"}},
      {"not_json", Raw("{not json", ""), {"not valid JSON"}},
      {"not_object", Raw("[1,2]", ""), {"not a JSON object"}},
      {"dup_key",
       Raw(R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
           R"("x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})",
           "a"),
       {"duplicate key"}},
      {"unknown_dtype", Raw(R"({"x":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}})", "a"),
       {"tensor 'x'", "unknown dtype 'Q4'"}},
      {"size_mismatch", Raw(R"({"x":{)" + f32x4 + R"(,"data_offsets":[0,12]}})",
                            std::string(16, 'a')),
       {"tensor 'x'", "data_offsets [0,12] hold 12 bytes but F32[2,2] needs 16"}},
      {"beyond_data", Raw(R"({"x":{)" + f32x4 + R"(,"data_offsets":[0,16]}})",
                          std::string(8, 'a')),
       {"tensor 'x'", "beyond the data section of 8 bytes"}},
      {"begin_gt_end", Raw(R"({"x":{"dtype":"U8","shape":[0],"data_offsets":[4,2]}})",
                           std::string(8, 'a')),
       {"tensor 'x'", "begin > end"}},
      {"overlap",
       Raw(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
           R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
           std::string(12, 'a')),
       {"tensor 'b'", "overlap", "'a'"}},
      {"negative_shape", Raw(R"({"x":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})", ""),
       {"tensor 'x'", "non-negative integers"}},
      {"float_shape", Raw(R"({"x":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}})", "a"),
       {"tensor 'x'", "non-negative integers"}},
      {"bad_offsets", Raw(R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[0]}})", "a"),
       {"tensor 'x'", "data_offsets"}},
      {"no_dtype", Raw(R"({"x":{"shape":[1],"data_offsets":[0,1]}})", "a"),
       {"tensor 'x'", "dtype"}},
      {"extra_field",
       Raw(R"({"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"foo":1}})", "a"),
       {"tensor 'x'", "unknown field 'foo'"}},
      {"entry_not_object", Raw(R"({"x":5})", ""), {"tensor 'x'", "not a JSON object"}},
      {"meta_not_string", Raw(R"({"__metadata__":{"format":"pt","step":3}})", ""),
       {"__metadata__", "'step'", "not a string"}},
      {"meta_not_object", Raw(R"({"__metadata__":[]})", ""), {"__metadata__"}},
      {"unknown_top_key", Raw(R"({"__other__":{}})", ""), {"unknown top-level key"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string path = JoinPath(dir, absl::StrCat(c.name, ".safetensors"));
    ASSERT_TRUE(WriteFileAtomic(path, c.contents).ok());
    auto f = SafetensorsFile::Open(path);
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << f.status();
    EXPECT_THAT(f.status().message(), HasSubstr(path));
    for (const auto& w : c.want) EXPECT_THAT(f.status().message(), HasSubstr(w));
    // The model loader reports the same error for a single file.
    auto m = SafetensorsModel::Open(path);
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(SafetensorsTest, AcceptsEdgeCases) {
  std::string dir = FreshDir("edge");
  // Zero-size tensors may share offsets; unaligned header lengths are allowed
  // on read; trailing data beyond the last tensor is tolerated.
  std::string path = JoinPath(dir, "e.safetensors");
  ASSERT_TRUE(WriteFileAtomic(
                  path, Raw(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},)"
                            R"("b":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},)"
                            R"("c":{"dtype":"I16","shape":[1],"data_offsets":[0,2]}} )",
                            "xyz"))
                  .ok());
  auto f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->tensors().size(), 3u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>((*f)->Get("c")->data), 2), "xy");
  // Header only, no tensors.
  std::string empty = JoinPath(dir, "empty.safetensors");
  ASSERT_TRUE(WriteSafetensors(empty, {}).ok());
  auto g = SafetensorsFile::Open(empty);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE((*g)->tensors().empty());
}

void WriteShard(const std::string& path, const std::vector<std::string>& names) {
  std::vector<TensorToWrite> ts;
  for (const auto& n : names) ts.push_back({n, DType::kF32, {1}, Bytes(std::vector<float>{
                                                                    static_cast<float>(n.size())})});
  ASSERT_TRUE(WriteSafetensors(path, ts).ok());
}

TEST(SafetensorsTest, ShardedModel) {
  std::string dir = FreshDir("sharded");
  WriteShard(JoinPath(dir, "model-00001-of-00002.safetensors"), {"a", "bb"});
  WriteShard(JoinPath(dir, "model-00002-of-00002.safetensors"), {"ccc", "extra"});
  ASSERT_TRUE(WriteFileAtomic(JoinPath(dir, "model.safetensors.index.json"),
                              R"({"metadata":{"total_size":16},"weight_map":{)"
                              R"("a":"model-00001-of-00002.safetensors",)"
                              R"("ccc":"model-00002-of-00002.safetensors",)"
                              R"("bb":"model-00001-of-00002.safetensors"}})")
                  .ok());
  // A stray model.safetensors is ignored in favour of the index.
  WriteShard(JoinPath(dir, "model.safetensors"), {"stray"});
  auto m = SafetensorsModel::Open(dir);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_THAT((*m)->names(), ElementsAre("a", "bb", "ccc", "extra"));
  EXPECT_EQ((*m)->files().size(), 2u);
  EXPECT_TRUE((*m)->Has("extra"));
  EXPECT_FALSE((*m)->Has("stray"));
  for (const std::string n : {"a", "bb", "ccc", "extra"}) {
    auto v = (*m)->Get(n);
    ASSERT_TRUE(v.ok()) << n;
    float x;
    std::memcpy(&x, v->data, 4);
    EXPECT_EQ(x, static_cast<float>(n.size())) << n;
    EXPECT_EQ((*m)->Find(n), v->info);
  }
  EXPECT_EQ((*m)->Find("zzz"), nullptr);
  EXPECT_EQ((*m)->Get("zzz").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT((*m)->Get("zzz").status().message(), HasSubstr("zzz"));
}

TEST(SafetensorsTest, BadShardIndexes) {
  struct Case {
    const char* name;
    std::string index;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {"missing_shard", R"({"weight_map":{"a":"s1.safetensors","q":"gone.safetensors"}})",
       {"'gone.safetensors'", "'q'", "missing"}},
      {"tensor_not_in_shard", R"({"weight_map":{"a":"s1.safetensors","zz":"s1.safetensors"}})",
       {"tensor 'zz'", "'s1.safetensors'", "missing from it"}},
      {"not_plain_name", R"({"weight_map":{"a":"../s1.safetensors"}})",
       {"'../s1.safetensors'", "plain file name"}},
      {"no_weight_map", R"({"metadata":{}})", {"weight_map"}},
      {"not_json", R"({"weight_map":)", {"not valid JSON"}},
      {"non_string_shard", R"({"weight_map":{"a":1}})", {"tensor 'a'", "not a string"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string dir = FreshDir(c.name);
    WriteShard(JoinPath(dir, "s1.safetensors"), {"a"});
    std::string index = JoinPath(dir, "model.safetensors.index.json");
    ASSERT_TRUE(WriteFileAtomic(index, c.index).ok());
    auto m = SafetensorsModel::Open(dir);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << m.status();
    EXPECT_THAT(m.status().message(), HasSubstr(index));
    for (const auto& w : c.want) EXPECT_THAT(m.status().message(), HasSubstr(w));
  }
}

TEST(SafetensorsTest, ModelOpenPaths) {
  std::string dir = FreshDir("paths");
  auto none = SafetensorsModel::Open(JoinPath(dir, "nope"));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(none.status().message(), HasSubstr(JoinPath(dir, "nope")));
  auto empty_dir = SafetensorsModel::Open(dir);
  EXPECT_EQ(empty_dir.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(empty_dir.status().message(), HasSubstr(dir));
  EXPECT_EQ(SafetensorsFile::Open(JoinPath(dir, "nope")).status().code(),
            absl::StatusCode::kNotFound);

  WriteShard(JoinPath(dir, "model.safetensors"), {"w"});
  auto by_dir = SafetensorsModel::Open(dir);
  ASSERT_TRUE(by_dir.ok()) << by_dir.status();
  EXPECT_THAT((*by_dir)->names(), ElementsAre("w"));
  auto by_file = SafetensorsModel::Open(JoinPath(dir, "model.safetensors"));
  ASSERT_TRUE(by_file.ok());
  EXPECT_TRUE((*by_file)->Has("w"));
  EXPECT_EQ((*by_file)->files().size(), 1u);
}

TEST(SafetensorsTest, RealStoriesModel) {
  const std::string dir = std::string(EQAT_SOURCE_DIR) + "/models/stories260K";
  auto f = SafetensorsFile::Open(dir + "/model.safetensors");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->tensors().size(), 47u);  // counted from the header with Python
  EXPECT_EQ((*f)->metadata().at("format"), "pt");
  const TensorInfo* emb = (*f)->Find("model.embed_tokens.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->dtype, DType::kF32);
  EXPECT_THAT(emb->shape, ElementsAre(512, 64));
  EXPECT_EQ(emb->begin, 0u);
  EXPECT_EQ(emb->nbytes(), 512u * 64u * 4u);
  auto v = (*f)->Get("model.embed_tokens.weight");
  ASSERT_TRUE(v.ok());
  float first[2];
  std::memcpy(first, v->data, sizeof(first));
  EXPECT_EQ(F2U(first[0]), 0xbe96e950u);
  EXPECT_EQ(F2U(first[1]), 0x3f0fd864u);

  auto m = SafetensorsModel::Open(dir);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->names().size(), 47u);
  EXPECT_TRUE((*m)->Has("model.embed_tokens.weight"));
}

}  // namespace
}  // namespace eqat
