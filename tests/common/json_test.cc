#include "common/json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace eqat::json {
namespace {

using ::testing::HasSubstr;

Value MustParse(std::string_view text) {
  auto v = Parse(text);
  EXPECT_TRUE(v.ok()) << text << " -> " << v.status();
  return v.ok() ? *v : Value();
}

TEST(JsonTest, ParsesScalars) {
  EXPECT_TRUE(MustParse("null").is_null());
  EXPECT_TRUE(MustParse(" true ").as_bool());
  EXPECT_FALSE(MustParse("\n\tfalse\r").as_bool());
  Value s = MustParse("\"hi\"");
  ASSERT_TRUE(s.is_string());
  EXPECT_EQ(s.as_string(), "hi");
  Value n = MustParse("-12.5e1");
  ASSERT_TRUE(n.is_number());
  EXPECT_FALSE(n.is_integer());
  EXPECT_DOUBLE_EQ(n.as_number(), -125.0);
  EXPECT_DOUBLE_EQ(MustParse("0.1").as_number(), 0.1);
  EXPECT_DOUBLE_EQ(MustParse("1E-3").as_number(), 0.001);
  EXPECT_DOUBLE_EQ(MustParse("-0").as_number(), 0.0);
  EXPECT_EQ(MustParse("1e-400").as_number(), 0.0);  // underflow is fine
}

TEST(JsonTest, IntegersStayExact) {
  Value big = MustParse("9007199254740993");  // 2^53 + 1, not a double
  ASSERT_TRUE(big.is_integer());
  EXPECT_EQ(big.as_int(), 9007199254740993LL);
  Value max = MustParse("9223372036854775807");
  ASSERT_TRUE(max.is_integer());
  EXPECT_EQ(max.as_int(), std::numeric_limits<int64_t>::max());
  Value min = MustParse("-9223372036854775808");
  ASSERT_TRUE(min.is_integer());
  EXPECT_EQ(min.as_int(), std::numeric_limits<int64_t>::min());
  // Beyond int64: a double, not an integer.
  Value over = MustParse("9223372036854775808");
  EXPECT_TRUE(over.is_number());
  EXPECT_FALSE(over.is_integer());
  EXPECT_DOUBLE_EQ(over.as_number(), 9223372036854775808.0);
  // A fraction or exponent makes it a double even if integral.
  EXPECT_FALSE(MustParse("3.0").is_integer());
  EXPECT_FALSE(MustParse("3e0").is_integer());
  EXPECT_TRUE(MustParse("3").is_integer());
  EXPECT_EQ(Serialize(Value::Int(9007199254740993LL)), "9007199254740993");
  EXPECT_EQ(Serialize(MustParse("[-9223372036854775808]")), "[-9223372036854775808]");
}

TEST(JsonTest, StringEscapes) {
  Value v = MustParse(R"("a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u20ac\ud83d\ude00")");
  ASSERT_TRUE(v.is_string());
  EXPECT_EQ(v.as_string(),
            "a\"b\\c/d\b\f\n\r\tA\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  // Raw UTF-8 passes through unchanged.
  EXPECT_EQ(MustParse("\"h\xC3\xA9llo \xE4\xB8\xAD\"").as_string(), "h\xC3\xA9llo \xE4\xB8\xAD");
  // \u0000 yields an embedded NUL.
  EXPECT_EQ(MustParse(R"("x\u0000y")").as_string(), std::string("x\0y", 3));
}

TEST(JsonTest, SerializeEscapes) {
  std::string s = "q\"b\\n\n\t\x01\x1f/\xC3\xA9";
  std::string out = Serialize(Value::String(s));
  EXPECT_EQ(out, "\"q\\\"b\\\\n\\n\\t\\u0001\\u001f/\xC3\xA9\"");
  EXPECT_EQ(MustParse(out).as_string(), s);
}

TEST(JsonTest, ObjectsKeepOrderAndRoundTrip) {
  const std::string text =
      R"({"z":1,"a":[true,false,null,"s",{"k":[]}],"m":{},"d":-0.25,"e":1e+20})";
  Value v = MustParse(text);
  ASSERT_TRUE(v.is_object());
  ASSERT_EQ(v.as_object().size(), 5u);
  EXPECT_EQ(v.as_object()[0].first, "z");
  EXPECT_EQ(v.as_object()[1].first, "a");
  EXPECT_EQ(Serialize(v), text);
  ASSERT_NE(v.Find("a"), nullptr);
  EXPECT_EQ(v.Find("a")->as_array().size(), 5u);
  EXPECT_EQ(v.Find("nope"), nullptr);
  EXPECT_EQ(MustParse("[1]").Find("a"), nullptr);  // not an object
}

TEST(JsonTest, SetReplacesAndPushAppends) {
  Value o = Value::Object();
  o.Set("a", Value::Int(1));
  o.Set("b", Value::Int(2));
  Value& stored = o.Set("a", Value::String("x"));
  EXPECT_EQ(stored.as_string(), "x");
  ASSERT_EQ(o.as_object().size(), 2u);
  EXPECT_EQ(o.as_object()[0].first, "a");
  Value arr = Value::Array();
  arr.Push(Value::Bool(true));
  arr.Push(Value());
  o.Set("arr", std::move(arr));
  EXPECT_EQ(Serialize(o), R"({"a":"x","b":2,"arr":[true,null]})");
}

TEST(JsonTest, DoublesRoundTripExactly) {
  const double values[] = {0.1,      1.0 / 3.0, -2.5e-300, 6.02214076e23,
                           1e-7,     123456.789, std::numeric_limits<double>::max(),
                           4.9e-324, -0.0,       3.0};
  for (double d : values) {
    std::string s = Serialize(Value::Number(d));
    Value back = MustParse(s);
    EXPECT_EQ(back.as_number(), d) << s;
    EXPECT_FALSE(back.is_integer()) << s;
  }
  EXPECT_EQ(Serialize(Value::Number(0.1)), "0.1");
  EXPECT_EQ(Serialize(Value::Number(3.0)), "3.0");
  EXPECT_EQ(Serialize(Value::Number(-1.5)), "-1.5");
  EXPECT_EQ(Serialize(Value::Number(10000.0)), "10000.0");
}

TEST(JsonTest, NonFiniteSerializesAsNull) {
  Value a = Value::Array();
  a.Push(Value::Number(std::numeric_limits<double>::infinity()));
  a.Push(Value::Number(-std::numeric_limits<double>::infinity()));
  a.Push(Value::Number(std::nan("")));
  EXPECT_EQ(Serialize(a), "[null,null,null]");
}

TEST(JsonTest, PrettyPrint) {
  Value v = MustParse(R"({"a":[1,2],"b":{"c":"d"},"e":[],"f":{}})");
  EXPECT_EQ(Serialize(v, 2),
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
  EXPECT_EQ(Serialize(MustParse(Serialize(v, 4))), Serialize(v));
  EXPECT_EQ(Serialize(MustParse("[1]"), 0), "[\n1\n]");
}

TEST(JsonTest, DepthLimit) {
  std::string ok = std::string(128, '[') + std::string(128, ']');
  EXPECT_TRUE(Parse(ok).ok());
  std::string deep = std::string(129, '[') + std::string(129, ']');
  auto r = Parse(deep);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("deeper than 128"));
  std::string objs;
  for (int i = 0; i < 200; ++i) objs += "{\"a\":";
  objs += "1" + std::string(200, '}');
  EXPECT_FALSE(Parse(objs).ok());
}

TEST(JsonTest, ReportsOffset) {
  auto r = Parse(R"({"key" 1})");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("expected ':' at 7"));
  r = Parse(R"({"a":1,"b":2,"a":3})");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("duplicate key \"a\" at 13"));
}

struct BadCase {
  const char* text;
  const char* why;
};

TEST(JsonTest, RejectsMalformed) {
  const BadCase cases[] = {
      {"", "end of input"},
      {"   ", "end of input"},
      {"[1,2,]", "trailing comma"},
      {"{\"a\":1,}", "trailing comma"},
      {"[1 2]", "expected ','"},
      {"{\"a\" 1}", "expected ':'"},
      {"{a:1}", "expected string key"},
      {"{\"a\":1", "end of input"},
      {"[1", "end of input"},
      {"01", "leading zero"},
      {"-01", "leading zero"},
      {"1.", "after '.'"},
      {".5", "unexpected character"},
      {"+1", "unexpected character"},
      {"1e", "exponent"},
      {"1e+", "exponent"},
      {"-", "expected digit"},
      {"NaN", "unexpected character"},
      {"Infinity", "unexpected character"},
      {"-Infinity", "expected digit"},
      {"1e400", "out of range"},
      {"tru", "unexpected character"},
      {"nul", "unexpected character"},
      {"'a'", "unexpected character"},
      {"\"abc", "unterminated string"},
      {"\"a\nb\"", "control character"},
      {"\"a\tb\"", "control character"},
      {"\"\\x\"", "invalid escape"},
      {"\"\\u12x4\"", "hex digit"},
      {"\"\\u12", "truncated"},
      {"\"\\ud800\"", "unpaired high surrogate"},
      {"\"\\ud800\\u0041\"", "unpaired high surrogate"},
      {"\"\\udc00\"", "unpaired low surrogate"},
      {"\"\xff\"", "invalid UTF-8"},
      {"\"\xC0\xAF\"", "invalid UTF-8"},      // overlong '/'
      {"\"\xED\xA0\x80\"", "invalid UTF-8"},  // encoded surrogate
      {"\"\xE2\x82\"", "invalid UTF-8"},      // truncated sequence
      {"{\"a\":1,\"a\":2}", "duplicate key"},
      {"1 2", "trailing"},
      {"{} x", "trailing"},
      {"[1]]", "trailing"},
      {"// c\n1", "unexpected character"},
  };
  for (const auto& c : cases) {
    auto r = Parse(c.text);
    ASSERT_FALSE(r.ok()) << "accepted: " << c.text;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(r.status().message(), HasSubstr(c.why)) << c.text;
    EXPECT_THAT(r.status().message(), HasSubstr(" at ")) << c.text;
  }
}

TEST(JsonTest, LargeObjectParsesQuickly) {
  std::string text = "{";
  for (int i = 0; i < 100000; ++i) {
    if (i) text += ",";
    text += "\"k" + std::to_string(i) + "\":" + std::to_string(i);
  }
  text += "}";
  Value v = MustParse(text);
  ASSERT_EQ(v.as_object().size(), 100000u);
  EXPECT_EQ(v.as_object()[99999].second.as_int(), 99999);
  EXPECT_EQ(Serialize(v), text);
}

}  // namespace
}  // namespace eqat::json
