// Unit tests of ParseSubcommandFlags / FlagsHelp over flags defined here
// (the eqat_client library defines none; main.cc is not linked into tests).
#include "common/flag_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, fp_test_name, "dflt", "a string flag for tests");
ABSL_FLAG(int32_t, fp_test_count, 7, "an int32 flag for tests");
ABSL_FLAG(int64_t, fp_test_big, 0, "an int64 flag for tests");
ABSL_FLAG(bool, fp_test_b, false, "a bool flag for tests");
ABSL_FLAG(bool, fp_test_on, true, "a bool flag, default true");
ABSL_FLAG(std::string, fp_test_other, "", "a flag no test command accepts");

namespace eqat {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::set<std::string> kAllowed = {"fp_test_name", "fp_test_count", "fp_test_big",
                                        "fp_test_b", "fp_test_on"};

class FlagParserTest : public ::testing::Test {
 protected:
  void SetUp() override { Reset(); }
  void TearDown() override { Reset(); }
  static void Reset() {
    absl::SetFlag(&FLAGS_fp_test_name, "dflt");
    absl::SetFlag(&FLAGS_fp_test_count, 7);
    absl::SetFlag(&FLAGS_fp_test_big, 0);
    absl::SetFlag(&FLAGS_fp_test_b, false);
    absl::SetFlag(&FLAGS_fp_test_on, true);
    absl::SetFlag(&FLAGS_fp_test_other, "");
  }
  static absl::StatusOr<ParsedArgs> Parse(const std::vector<std::string>& args) {
    return ParseSubcommandFlags(args, kAllowed);
  }
};

TEST_F(FlagParserTest, EmptyArgs) {
  auto p = Parse({});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(p->positional, IsEmpty());
  EXPECT_THAT(p->given, IsEmpty());
  EXPECT_EQ(absl::GetFlag(FLAGS_fp_test_count), 7);
}

TEST_F(FlagParserTest, NameEqualsValue) {
  auto p = Parse({"--fp_test_name=hello world", "--fp_test_count=42", "--fp_test_big=-9000000000"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(absl::GetFlag(FLAGS_fp_test_name), "hello world");
  EXPECT_EQ(absl::GetFlag(FLAGS_fp_test_count), 42);
  EXPECT_EQ(absl::GetFlag(FLAGS_fp_test_big), -9000000000LL);
  EXPECT_EQ(p->given, (std::set<std::string>{"fp_test_name", "fp_test_count", "fp_test_big"}));
}

TEST_F(FlagParserTest, NameSpaceValue) {
  auto p = Parse({"--fp_test_name", "x=y", "--fp_test_count", "-5"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(absl::GetFlag(FLAGS_fp_test_name), "x=y");
  // A value that starts with '-' is taken as the value, not as a flag.
  EXPECT_EQ(absl::GetFlag(FLAGS_fp_test_count), -5);
  EXPECT_THAT(p->positional, IsEmpty());
}

TEST_F(FlagParserTest, EmptyValues) {
  auto p = Parse({"--fp_test_name="});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(absl::GetFlag(FLAGS_fp_test_name), "");
  absl::SetFlag(&FLAGS_fp_test_name, "dflt");
  p = Parse({"--fp_test_name", ""});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(absl::GetFlag(FLAGS_fp_test_name), "");
}

TEST_F(FlagParserTest, SingleDashIsAccepted) {
  auto p = Parse({"-fp_test_count=3"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(absl::GetFlag(FLAGS_fp_test_count), 3);
}

TEST_F(FlagParserTest, LastOccurrenceWins) {
  auto p = Parse({"--fp_test_count=1", "--fp_test_count=2"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(absl::GetFlag(FLAGS_fp_test_count), 2);
}

TEST_F(FlagParserTest, BoolForms) {
  auto p = Parse({"--fp_test_b"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(absl::GetFlag(FLAGS_fp_test_b));
  EXPECT_EQ(p->given, (std::set<std::string>{"fp_test_b"}));

  p = Parse({"--nofp_test_b"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(absl::GetFlag(FLAGS_fp_test_b));
  EXPECT_EQ(p->given, (std::set<std::string>{"fp_test_b"}));

  p = Parse({"--nofp-test-on"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(absl::GetFlag(FLAGS_fp_test_on));

  for (const char* t : {"--fp_test_b=true", "--fp_test_b=1", "--fp_test_b=yes"}) {
    absl::SetFlag(&FLAGS_fp_test_b, false);
    p = Parse({t});
    ASSERT_TRUE(p.ok()) << t << ": " << p.status();
    EXPECT_TRUE(absl::GetFlag(FLAGS_fp_test_b)) << t;
  }
  for (const char* f : {"--fp_test_b=false", "--fp_test_b=0", "--fp_test_b=no"}) {
    absl::SetFlag(&FLAGS_fp_test_b, true);
    p = Parse({f});
    ASSERT_TRUE(p.ok()) << f << ": " << p.status();
    EXPECT_FALSE(absl::GetFlag(FLAGS_fp_test_b)) << f;
  }
}

TEST_F(FlagParserTest, BoolDoesNotConsumeNextArgument) {
  // Like Abseil: a bare bool flag never takes the next word as its value.
  auto p = Parse({"--fp_test_b", "false"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(absl::GetFlag(FLAGS_fp_test_b));
  EXPECT_THAT(p->positional, ElementsAre("false"));
}

TEST_F(FlagParserTest, BadBoolValue) {
  auto p = Parse({"--fp_test_b=maybe"});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("--fp-test-b"));
  EXPECT_THAT(p.status().message(), HasSubstr("maybe"));
}

TEST_F(FlagParserTest, NoPrefixOnlyForBools) {
  auto p = Parse({"--nofp_test_count"});
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("unknown flag"));
  // "--nobool=value" is not a negation either.
  p = Parse({"--nofp_test_b=true"});
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("unknown flag"));
}

TEST_F(FlagParserTest, DashesAndUnderscoresAreEquivalent) {
  auto p = Parse({"--fp-test-count", "11", "--fp-test_name=mixed", "--fp-test-b"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(absl::GetFlag(FLAGS_fp_test_count), 11);
  EXPECT_EQ(absl::GetFlag(FLAGS_fp_test_name), "mixed");
  EXPECT_TRUE(absl::GetFlag(FLAGS_fp_test_b));
  // `given` uses the registry (underscore) names.
  EXPECT_EQ(p->given, (std::set<std::string>{"fp_test_count", "fp_test_name", "fp_test_b"}));
}

TEST_F(FlagParserTest, UnknownFlag) {
  auto p = Parse({"--fp_test_nope=1"});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("unknown flag --fp-test-nope"));
  p = Parse({"--fp_test_nope"});
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("--fp-test-nope"));
}

TEST_F(FlagParserTest, FlagNotAllowedForCommand) {
  auto p = Parse({"--fp_test_other=x"});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("--fp-test-other"));
  EXPECT_EQ(absl::GetFlag(FLAGS_fp_test_other), "") << "a refused flag must not be set";
}

TEST_F(FlagParserTest, ErrorStopsAtFirstBadFlag) {
  auto p = Parse({"--fp_test_count=3", "--bogus", "--fp_test_name=z"});
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("--bogus"));
}

TEST_F(FlagParserTest, MissingValueAtEnd) {
  auto p = Parse({"--fp_test_count=1", "--fp_test_name"});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("--fp-test-name"));
  EXPECT_THAT(p.status().message(), HasSubstr("missing value"));
}

TEST_F(FlagParserTest, UnparseableInt) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--fp_test_count=abc"},
                                             {"--fp_test_count", "12x"},
                                             {"--fp_test_count=3.5"},
                                             {"--fp_test_count=99999999999"},
                                             {"--fp_test_count="}}) {
    auto p = Parse(args);
    ASSERT_FALSE(p.ok()) << args.back();
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(p.status().message(), HasSubstr("--fp-test-count")) << args.back();
    EXPECT_THAT(p.status().message(), HasSubstr("cannot parse")) << args.back();
    EXPECT_EQ(absl::GetFlag(FLAGS_fp_test_count), 7) << "unchanged on error";
  }
}

TEST_F(FlagParserTest, PositionalsAndDoubleDash) {
  auto p = Parse({"a", "--fp_test_count=3", "b", "-", "--", "--fp_test_count=5", "-x", "--"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(p->positional, ElementsAre("a", "b", "-", "--fp_test_count=5", "-x", "--"));
  EXPECT_EQ(absl::GetFlag(FLAGS_fp_test_count), 3);
  EXPECT_EQ(p->given, (std::set<std::string>{"fp_test_count"}));
}

TEST_F(FlagParserTest, FlagsHelpListsDashedNamesAndDefaults) {
  std::string h = FlagsHelp({"fp_test_count", "fp_test_b", "fp_test_not_registered"});
  EXPECT_THAT(h, HasSubstr("--fp-test-count  an int32 flag for tests (default: 7)"));
  EXPECT_THAT(h, HasSubstr("--fp-test-b  a bool flag for tests (default: false)"));
  EXPECT_THAT(h, ::testing::Not(HasSubstr("not-registered")));
  // Sorted by name: fp_test_b before fp_test_count.
  EXPECT_LT(h.find("--fp-test-b"), h.find("--fp-test-count"));
}

}  // namespace
}  // namespace eqat
