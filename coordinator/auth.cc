#include "coordinator/auth.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/file_util.h"

namespace eqat {
namespace {

constexpr size_t kMinTokenChars = 16;
constexpr size_t kMaxTokenChars = 4096;
constexpr char kUnauthenticated[] = "missing or invalid bearer token";

bool TokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("._~+/=-").find(c) != absl::string_view::npos;
}

bool NameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("._@-").find(c) != absl::string_view::npos;
}

// Equal contents, in time that depends only on the lengths.
bool SameToken(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

absl::StatusOr<TokenAuth> TokenAuth::Load(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--token-file: ", text.status().message()));
  }
  return Parse(*text, path);
}

absl::StatusOr<TokenAuth> TokenAuth::Parse(absl::string_view text, const std::string& source) {
  TokenAuth auth;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    auto bad = [&](const std::string& why) {
      return absl::InvalidArgumentError(
          absl::StrCat("--token-file: ", source, " line ", line_no, ": ", why));
    };
    std::vector<absl::string_view> f = absl::StrSplit(line, ',');
    if (f.size() != 3) return bad("want TOKEN,NAME,ROLE");
    for (auto& x : f) x = absl::StripAsciiWhitespace(x);
    const absl::string_view token = f[0], name = f[1], role = f[2];
    if (token.size() < kMinTokenChars || token.size() > kMaxTokenChars) {
      return bad(absl::StrCat("the token must have ", kMinTokenChars, " to ", kMaxTokenChars,
                              " characters"));
    }
    for (char c : token) {
      if (!TokenChar(c)) return bad("the token has a character outside [A-Za-z0-9._~+/=-]");
    }
    if (name.empty() || name.size() > 128) return bad("NAME must have 1 to 128 characters");
    for (char c : name) {
      if (!NameChar(c)) return bad("NAME has a character outside [A-Za-z0-9._@-]");
    }
    Entry e;
    e.token = std::string(token);
    e.who.name = std::string(name);
    if (role == "read") {
      e.who.role = Role::kRead;
    } else if (role == "submit") {
      e.who.role = Role::kSubmit;
    } else if (role == "admin") {
      e.who.role = Role::kAdmin;
    } else {
      return bad("ROLE must be read, submit or admin");
    }
    for (const Entry& other : auth.tokens_) {
      if (SameToken(other.token, e.token)) return bad("the same token is listed twice");
    }
    auth.tokens_.push_back(std::move(e));
  }
  if (auth.tokens_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--token-file: ", source, " holds no token"));
  }
  return auth;
}

TokenAuth TokenAuth::Open() {
  TokenAuth auth;
  auth.open_ = true;
  return auth;
}

absl::StatusOr<Principal> TokenAuth::Authenticate(absl::string_view authorization) const {
  if (open_) return Principal{"", Role::kAdmin};
  absl::string_view token = authorization;
  if (token.size() < 7 || !absl::EqualsIgnoreCase(token.substr(0, 7), "bearer ")) {
    return absl::UnauthenticatedError(kUnauthenticated);
  }
  token = absl::StripAsciiWhitespace(token.substr(7));
  // Every entry is compared, so the time does not tell which one matched.
  const Entry* found = nullptr;
  for (const Entry& e : tokens_) {
    if (SameToken(e.token, token) && found == nullptr) found = &e;
  }
  if (found == nullptr) return absl::UnauthenticatedError(kUnauthenticated);
  return found->who;
}

absl::Status Authorize(const Principal& who, Role need) {
  if (static_cast<int>(who.role) >= static_cast<int>(need)) return absl::OkStatus();
  return absl::PermissionDeniedError("permission denied");
}

}  // namespace eqat
