#include "coordinator/auth.h"

#include <gtest/gtest.h>

#include <string>

namespace eqat {
namespace {

constexpr char kFile[] =
    "# TOKEN,NAME,ROLE\n"
    "\n"
    "rrrrrrrrrrrrrrrrrrrr,dashboard,read\n"
    "ssssssssssssssssssss,alice,submit\n"
    "  aaaaaaaaaaaaaaaaaaaa , ops , admin \n";

TEST(TokenAuthTest, EachTokenMapsToItsNameAndRole) {
  absl::StatusOr<TokenAuth> auth = TokenAuth::Parse(kFile, "tokens.csv");
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->size(), 3u);
  EXPECT_FALSE(auth->open());
  auto r = auth->Authenticate("Bearer rrrrrrrrrrrrrrrrrrrr");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->name, "dashboard");
  EXPECT_EQ(r->role, Role::kRead);
  auto s = auth->Authenticate("bearer ssssssssssssssssssss");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->name, "alice");
  EXPECT_EQ(s->role, Role::kSubmit);
  auto a = auth->Authenticate("Bearer aaaaaaaaaaaaaaaaaaaa");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->name, "ops");
  EXPECT_EQ(a->role, Role::kAdmin);
}

TEST(TokenAuthTest, MissingMalformedAndUnknownTokensGetOneMessage) {
  absl::StatusOr<TokenAuth> auth = TokenAuth::Parse(kFile, "tokens.csv");
  ASSERT_TRUE(auth.ok());
  const std::string inputs[] = {"", "Bearer", "Bearer ", "Basic rrrrrrrrrrrrrrrrrrrr",
                                "rrrrrrrrrrrrrrrrrrrr", "Bearer rrrrrrrrrrrrrrrrrrr",
                                "Bearer rrrrrrrrrrrrrrrrrrrrr", "Bearer xxxxxxxxxxxxxxxxxxxx"};
  for (const std::string& in : inputs) {
    auto r = auth->Authenticate(in);
    ASSERT_FALSE(r.ok()) << in;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated) << in;
    EXPECT_EQ(r.status().message(), "missing or invalid bearer token") << in;
  }
}

TEST(TokenAuthTest, RolesIncludeTheOnesBelow) {
  const Principal read{"r", Role::kRead}, submit{"s", Role::kSubmit}, admin{"a", Role::kAdmin};
  EXPECT_TRUE(Authorize(read, Role::kRead).ok());
  EXPECT_EQ(Authorize(read, Role::kSubmit).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Authorize(read, Role::kAdmin).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Authorize(submit, Role::kRead).ok());
  EXPECT_TRUE(Authorize(submit, Role::kSubmit).ok());
  EXPECT_EQ(Authorize(submit, Role::kAdmin).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Authorize(admin, Role::kAdmin).ok());
}

TEST(TokenAuthTest, BadFilesNameTheLineAndNeverEchoTheToken) {
  struct Case {
    std::string text, want;
  };
  const Case cases[] = {
      {"short,alice,read\n", "line 1: the token must have 16"},
      {"# c\nssssssssssssssssssss,alice\n", "line 2: want TOKEN,NAME,ROLE"},
      {"ssssssssssssssssssss,alice,root\n", "ROLE must be read, submit or admin"},
      {"ssssssssssssssssssss,al ice,read\n", "NAME has a character"},
      {"ssssssssssssssssssss,,read\n", "NAME must have 1 to 128"},
      {"sssssssssss\"ssssssss,alice,read\n", "the token has a character"},
      {"ssssssssssssssssssss,a,read\nssssssssssssssssssss,b,admin\n", "line 2: the same token"},
      {"# only a comment\n\n", "holds no token"},
  };
  for (const Case& c : cases) {
    auto r = TokenAuth::Parse(c.text, "t.csv");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("--token-file: t.csv"), std::string::npos)
        << r.status().message();
    EXPECT_NE(r.status().message().find(c.want), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().message().find("ssssssssssss"), std::string::npos) << r.status().message();
  }
  auto missing = TokenAuth::Load("/nonexistent/tokens.csv");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("--token-file"), std::string::npos);
}

TEST(TokenAuthTest, AnOpenCoordinatorLetsEveryoneInAsAdmin) {
  TokenAuth open = TokenAuth::Open();
  EXPECT_TRUE(open.open());
  auto r = open.Authenticate("");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->role, Role::kAdmin);
  EXPECT_EQ(r->name, "");
}

}  // namespace
}  // namespace eqat
