// Runs the real `eqat` binary of this build for the CLI tests: quoting,
// capture of stdout+stderr, exit code or signal, and the JSON last line.
// Header-only; each test binary includes it once per file that needs it.
#ifndef EQAT_TESTS_CLIENT_CLI_RUNNER_H_
#define EQAT_TESTS_CLIENT_CLI_RUNNER_H_

#include <sys/wait.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace eqat {
namespace cli_test {

inline std::string EqatBinary() { return absl::StrCat(EQAT_BINARY_DIR, "/client/eqat"); }

// Single-quotes `s` for /bin/sh.
inline std::string ShellQuote(const std::string& s) {
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"'", "'\\''"}}), "'");
}

struct RunResult {
  int exit_code = -1;  // WEXITSTATUS, or -1 when not a normal exit
  int signal = 0;      // terminating signal (a crash), else 0
  std::string output;  // stdout and stderr together (stdout only with split)
};

// `stderr_to` empty: stderr joins stdout; else stderr goes to that file.
inline RunResult RunEqat(const std::vector<std::string>& args, const std::string& stderr_to = "") {
  std::string cmd = ShellQuote(EqatBinary());
  for (const std::string& a : args) absl::StrAppend(&cmd, " ", ShellQuote(a));
  absl::StrAppend(&cmd, " </dev/null ",
                  stderr_to.empty() ? std::string("2>&1") : "2>" + ShellQuote(stderr_to));
  RunResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    r.output = absl::StrCat("popen failed: ", std::strerror(errno));
    return r;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  int st = pclose(p);
  if (WIFEXITED(st)) {
    r.exit_code = WEXITSTATUS(st);
    // The shell reports a child killed by signal N as exit 128+N.
    if (r.exit_code > 128) r.signal = r.exit_code - 128;
  } else if (WIFSIGNALED(st)) {
    r.signal = WTERMSIG(st);
  }
  return r;
}

// The last non-empty line of `s` (the --json summary).
inline std::string LastLine(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  size_t nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

}  // namespace cli_test
}  // namespace eqat

#endif  // EQAT_TESTS_CLIENT_CLI_RUNNER_H_
