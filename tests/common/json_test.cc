#include "common/json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

namespace eqat {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

Json MustParse(std::string_view text) {
  auto v = ParseJson(text);
  EXPECT_TRUE(v.ok()) << text << " -> " << v.status();
  return v.ok() ? *v : Json();
}

TEST(JsonTest, IntegersStayExact) {
  Json big = MustParse("9007199254740993");  // 2^53 + 1, not a double
  EXPECT_TRUE(big.is_number_integer());
  EXPECT_EQ(JsonInt64(big), 9007199254740993LL);
  EXPECT_EQ(JsonInt64(MustParse("9223372036854775807")), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(JsonInt64(MustParse("-9223372036854775808")), std::numeric_limits<int64_t>::min());

  // Above int64 but within uint64: exact as uint64, not an int64.
  Json umax = MustParse("18446744073709551615");
  ASSERT_TRUE(umax.is_number_unsigned());
  EXPECT_EQ(umax.get<uint64_t>(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(JsonInt64(umax), std::nullopt);
  EXPECT_EQ(JsonInt64(MustParse("9223372036854775808")), std::nullopt);

  // Beyond uint64: a double.
  Json over = MustParse("18446744073709551616");
  EXPECT_TRUE(over.is_number_float());
  EXPECT_DOUBLE_EQ(over.get<double>(), 18446744073709551616.0);

  // A fraction or exponent makes it a double even when integral.
  EXPECT_TRUE(MustParse("3.0").is_number_float());
  EXPECT_TRUE(MustParse("3e0").is_number_float());
  EXPECT_EQ(JsonInt64(MustParse("3.0")), std::nullopt);
  EXPECT_EQ(JsonInt64(MustParse("\"3\"")), std::nullopt);
  EXPECT_EQ(JsonInt64(MustParse("-3")), -3);

  EXPECT_EQ(DumpJson(MustParse("[-9223372036854775808,18446744073709551615,9007199254740993]")),
            "[-9223372036854775808,18446744073709551615,9007199254740993]");
}

TEST(JsonTest, DoublesRoundTripAndStayDoubles) {
  const double values[] = {0.1,    1.0 / 3.0,  -2.5e-300, 6.02214076e23,
                           1e-7,   123456.789, std::numeric_limits<double>::max(),
                           4.9e-324, -0.0,     3.0};
  for (double d : values) {
    std::string s = DumpJson(Json(d));
    Json back = MustParse(s);
    EXPECT_TRUE(back.is_number_float()) << s;
    EXPECT_EQ(back.get<double>(), d) << s;
  }
  EXPECT_EQ(DumpJson(Json(0.1)), "0.1");
  EXPECT_EQ(DumpJson(Json(3.0)), "3.0");
  EXPECT_EQ(DumpJson(Json(10000.0)), "10000.0");
  EXPECT_EQ(MustParse("1e-400").get<double>(), 0.0);  // underflow is fine
}

TEST(JsonTest, NonFiniteDumpsAsNull) {
  Json a = {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
            std::nan("")};
  EXPECT_EQ(DumpJson(a), "[null,null,null]");
  EXPECT_EQ(DumpJson(Json{{"ppl", std::nan("")}}, 1), "{\n \"ppl\": null\n}");
}

TEST(JsonTest, ObjectsKeepInsertionOrder) {
  const std::string text =
      R"({"z":1,"a":[true,false,null,"s",{"k":[]}],"m":{},"d":-0.25,"e":1e+20})";
  Json v = MustParse(text);
  ASSERT_TRUE(v.is_object());
  ASSERT_EQ(v.size(), 5u);
  EXPECT_EQ(v.begin().key(), "z");
  EXPECT_EQ(DumpJson(v), text);

  Json built = Json::object();
  built["zeta"] = 1;
  built["alpha"] = "x";
  built["mid"] = Json::array();
  built["zeta"] = 2;  // replacing keeps the position
  EXPECT_EQ(DumpJson(built), R"({"zeta":2,"alpha":"x","mid":[]})");
}

TEST(JsonTest, DumpCompactAndPretty) {
  Json v = MustParse(R"({"a":[1,2],"b":{"c":"d"},"e":[],"f":{}})");
  EXPECT_EQ(DumpJson(v), R"({"a":[1,2],"b":{"c":"d"},"e":[],"f":{}})");
  EXPECT_EQ(DumpJson(v, 2),
            "{\n"
            "  \"a\": [\n"
            "    1,\n"
            "    2\n"
            "  ],\n"
            "  \"b\": {\n"
            "    \"c\": \"d\"\n"
            "  },\n"
            "  \"e\": [],\n"
            "  \"f\": {}\n"
            "}");
  EXPECT_EQ(DumpJson(MustParse(DumpJson(v, 4))), DumpJson(v));
}

TEST(JsonTest, StringsEscapeAndDecode) {
  Json v = MustParse(R"("a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u20ac\ud83d\ude00")");
  ASSERT_TRUE(v.is_string());
  EXPECT_EQ(v.get<std::string>(), "a\"b\\c/d\b\f\n\r\tA\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  EXPECT_EQ(MustParse(R"("x\u0000y")").get<std::string>(), std::string("x\0y", 3));

  const std::string s = "q\"b\\n\n\t\x01\x1f/\xC3\xA9";
  std::string out = DumpJson(Json(s));
  EXPECT_EQ(out, "\"q\\\"b\\\\n\\n\\t\\u0001\\u001f/\xC3\xA9\"");  // UTF-8 kept as is
  EXPECT_EQ(MustParse(out).get<std::string>(), s);
}

TEST(JsonTest, InvalidUtf8IsReplacedWhenDumping) {
  Json v = {{"name", std::string("a\xFF" "b")}};
  EXPECT_EQ(DumpJson(v), "{\"name\":\"a\xEF\xBF\xBD" "b\"}");  // U+FFFD
}

TEST(JsonTest, DepthLimit) {
  EXPECT_TRUE(ParseJson(std::string(128, '[') + std::string(128, ']')).ok());
  auto r = ParseJson(std::string(129, '[') + std::string(129, ']'));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "json: nesting deeper than 128");

  // Objects count too, and a very deep document stops early.
  std::string objs;
  for (int i = 0; i < 100000; ++i) objs += "{\"a\":";
  objs += "1" + std::string(100000, '}');
  r = ParseJson(objs);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("nesting deeper than 128"));

  JsonLimits shallow;
  shallow.max_depth = 2;
  EXPECT_TRUE(ParseJson(R"({"a":[1]})", shallow).ok());
  r = ParseJson(R"({"a":[{}]})", shallow);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("nesting deeper than 2"));
}

TEST(JsonTest, DuplicateKeysAreRefused) {
  auto r = ParseJson(R"({"a":1,"b":2,"a":3})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "json: duplicate key \"a\"");

  r = ParseJson(R"({"outer":{"x":1,"x":{}}})");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("duplicate key \"x\""));

  // The same key in different objects is fine.
  Json ok = MustParse(R"({"a":{"a":1},"b":[{"a":2},{"a":3}]})");
  EXPECT_EQ(ok["b"][1]["a"], 3);
}

TEST(JsonTest, SizeCap) {
  EXPECT_EQ(JsonLimits{}.max_bytes, size_t{100} << 20);
  JsonLimits small;
  small.max_bytes = 9;
  EXPECT_TRUE(ParseJson("[1,2,3,4]", small).ok());  // exactly 9 bytes
  auto r = ParseJson("[1,2,3,45]", small);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "json: document of 10 bytes exceeds the limit of 9 bytes");
}

TEST(JsonTest, SyntaxErrorsNameTheReasonAndOffset) {
  auto r = ParseJson(R"({"key" 1})");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("expected ':'"));
  EXPECT_THAT(r.status().message(), HasSubstr("(at byte 8)"));

  r = ParseJson("[1,2,]");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("(at byte 6)"));
}

struct BadCase {
  const char* text;
  const char* why;
};

TEST(JsonTest, RejectsMalformed) {
  const BadCase cases[] = {
      {"", "unexpected end of input"},
      {"   ", "unexpected end of input"},
      {"[1,2,]", "unexpected ']'"},
      {"{\"a\":1,}", "unexpected '}'"},
      {"[1 2]", "expected ']'"},
      {"{a:1}", "expected string literal"},
      {"{\"a\":1", "unexpected end of input"},
      {"01", "expected end of input"},
      {"1.", "invalid number"},
      {".5", "invalid literal"},
      {"+1", "invalid literal"},
      {"1e", "invalid number"},
      {"NaN", "invalid literal"},
      {"Infinity", "invalid literal"},
      {"1e400", "number overflow"},
      {"tru", "invalid literal"},
      {"'a'", "invalid literal"},
      {"\"abc", "missing closing quote"},
      {"\"a\nb\"", "control character"},
      {"\"\\x\"", "forbidden character after backslash"},
      {"\"\\u12x4\"", "'\\u' must be followed by 4 hex digits"},
      {"\"\\ud800\"", "surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF"},
      {"\"\\udc00\"", "surrogate U+DC00..U+DFFF must follow U+D800..U+DBFF"},
      {"\"\xff\"", "ill-formed UTF-8 byte"},
      {"\"\xC0\xAF\"", "ill-formed UTF-8 byte"},      // overlong '/'
      {"\"\xED\xA0\x80\"", "ill-formed UTF-8 byte"},  // encoded surrogate
      {"1 2", "expected end of input"},
      {"{} x", "expected end of input"},
      {"// c\n1", "invalid literal"},  // no comments
  };
  for (const auto& c : cases) {
    auto r = ParseJson(c.text);
    ASSERT_FALSE(r.ok()) << "accepted: " << c.text;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(std::string(r.status().message()), StartsWith("json: ")) << c.text;
    EXPECT_THAT(r.status().message(), HasSubstr(c.why)) << c.text;
    EXPECT_THAT(r.status().message(), HasSubstr("(at byte ")) << c.text;
  }
}

// 100k members: linear time (an insert that scans the object, as
// ordered_json's operator[] does, takes ~30 s here).
TEST(JsonTest, LargeObjectParsesInOrder) {
  std::string text = "{";
  for (int i = 0; i < 100000; ++i) {
    if (i) text += ",";
    text += "\"k" + std::to_string(i) + "\":{\"v\":" + std::to_string(i) + "}";
  }
  text += "}";
  Json v = MustParse(text);
  ASSERT_EQ(v.size(), 100000u);
  auto last = v.end();
  --last;
  EXPECT_EQ(last.key(), "k99999");
  EXPECT_EQ(v["k99999"]["v"], 99999);
  EXPECT_EQ(DumpJson(v), text);
}

}  // namespace
}  // namespace eqat
