// ParseByteSize: units, fractions, and refusals naming the flag.
#include "common/byte_size.h"

#include <gtest/gtest.h>

namespace eqat {
namespace {

TEST(ByteSizeTest, ParsesUnits) {
  EXPECT_EQ(*ParseByteSize("--x", "100000"), 100000);
  EXPECT_EQ(*ParseByteSize("--x", "512M"), 512LL << 20);
  EXPECT_EQ(*ParseByteSize("--x", "4g"), 4LL << 30);
  EXPECT_EQ(*ParseByteSize("--x", "1.5G"), 3LL << 29);
  EXPECT_EQ(*ParseByteSize("--x", "2K"), 2048);
  EXPECT_EQ(*ParseByteSize("--x", "0"), 0);
}

TEST(ByteSizeTest, RefusesJunkNamingTheFlag) {
  for (const char* bad : {"", "G", "-1M", "4GB", "abc", "1e30T"}) {
    auto r = ParseByteSize("--cache-budget", bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("--cache-budget"), std::string::npos) << bad;
  }
}

}  // namespace
}  // namespace eqat
