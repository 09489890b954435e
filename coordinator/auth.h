// Bearer tokens of the public API, with roles.
//
// Token file (coordinator --token-file), one token per line, the layout of
// Kubernetes' static token file:
//     TOKEN,NAME,ROLE
// TOKEN: at least 16 characters of [A-Za-z0-9._~+/=-]; NAME: who holds it
// ([A-Za-z0-9._@-], shown as Job.owner); ROLE: read | submit | admin.
// Blank lines and lines starting with '#' are skipped. Two lines with the
// same token, or one with a bad field, make Load fail with InvalidArgument
// naming the line (never echoing a token).
//
// Roles, each including the one before:
//   read    GetJob, ListJobs, WatchJob
//   submit  SubmitJob, and CancelJob of the jobs it submitted (same NAME)
//   admin   CancelJob of any job
// Callers send "authorization: Bearer TOKEN" metadata. Authenticate answers
// Unauthenticated for a missing, malformed or unknown token, with one fixed
// message that says nothing about which; Authorize answers PermissionDenied
// with a fixed message. Tokens are compared in constant time.
//
// TokenAuth::Open() has no tokens and lets every caller in as an anonymous
// admin (the coordinator allows it only with --insecure).
// Thread-safety: const methods are thread-safe.
#ifndef EQAT_COORDINATOR_AUTH_H_
#define EQAT_COORDINATOR_AUTH_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace eqat {

enum class Role { kRead = 0, kSubmit = 1, kAdmin = 2 };

struct Principal {
  std::string name;  // empty for the anonymous caller of an open coordinator
  Role role = Role::kRead;
};

class TokenAuth {
 public:
  static absl::StatusOr<TokenAuth> Load(const std::string& path);
  static absl::StatusOr<TokenAuth> Parse(absl::string_view text, const std::string& source);
  static TokenAuth Open();

  bool open() const { return open_; }
  size_t size() const { return tokens_.size(); }

  // `authorization`: the metadata value ("Bearer TOKEN"), empty when absent.
  absl::StatusOr<Principal> Authenticate(absl::string_view authorization) const;

 private:
  struct Entry {
    std::string token;
    Principal who;
  };
  bool open_ = false;
  std::vector<Entry> tokens_;
};

// OK when `who` holds at least `need`; PermissionDenied otherwise.
absl::Status Authorize(const Principal& who, Role need);

}  // namespace eqat

#endif  // EQAT_COORDINATOR_AUTH_H_
