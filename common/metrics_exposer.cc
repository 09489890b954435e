#include "common/metrics_exposer.h"

#include <CivetServer.h>
#include <arpa/inet.h>
#include <dlfcn.h>
#include <pthread.h>

#include <cstdio>
#include <exception>

#include <prometheus/registry.h>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"

// civetweb (also under prometheus-cpp) creates its threads with a small
// compiled-in stack size. In a process that also loads LibTorch, the static
// TLS of its libraries no longer fits in that stack and pthread_create fails,
// so the Exposer cannot start in eqat-worker. This definition interposes the
// libc function for the whole process (it lives in the executable, which
// links this file whenever it starts an Exposer; the link exports it, see
// common/CMakeLists.txt) and raises requests below 1 MiB to 1 MiB.
extern "C" int pthread_attr_setstacksize(pthread_attr_t* attr, size_t size) {
  using Fn = int (*)(pthread_attr_t*, size_t);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "pthread_attr_setstacksize"));
  const size_t kMin = size_t{1} << 20;
  return real(attr, size < kMin ? kMin : size);
}

namespace eqat {
namespace {

// While StartMetricsExposer starts the server on this thread, civetweb's
// messages are collected here (they name the real cause; the exception
// prometheus-cpp throws does not). Later ones go to stderr.
thread_local std::string* start_log = nullptr;

int LogMessage(const mg_connection*, const char* message) {
  if (start_log != nullptr) {
    absl::StrAppend(start_log, start_log->empty() ? "" : "; ", message);
  } else {
    std::fprintf(stderr, "eqat metrics http: %s\n", message);
  }
  return 1;  // handled: civetweb prints nothing itself
}

absl::Status BadAddr(const std::string& addr, const std::string& why) {
  return absl::InvalidArgumentError(
      absl::StrCat("metrics listen address '", addr, "': ", why,
                   " (want PORT, IPv4:PORT, [IPv6]:PORT or localhost:PORT)"));
}

// The user's address in civetweb's listening_ports syntax, which would also
// accept lists, "s"/"r" suffixes and host names: only one plain address here.
absl::StatusOr<std::string> ToListeningPort(const std::string& addr) {
  size_t colon = addr.rfind(':');
  std::string host = colon == std::string::npos ? "" : addr.substr(0, colon);
  std::string port_str = colon == std::string::npos ? addr : addr.substr(colon + 1);
  uint32_t port = 0;
  if (port_str.empty() || port_str.size() > 5 ||
      port_str.find_first_not_of("0123456789") != std::string::npos ||
      !absl::SimpleAtoi(port_str, &port) || port > 65535) {
    return BadAddr(addr, "port must be a number in [0, 65535]");
  }
  if (colon == std::string::npos) return port_str;
  if (absl::AsciiStrToLower(host) == "localhost") host = "127.0.0.1";
  unsigned char buf[16];
  bool v6 = host.size() > 2 && host.front() == '[' && host.back() == ']' &&
            inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), buf) == 1;
  if (!v6 && inet_pton(AF_INET, host.c_str(), buf) != 1) {
    return BadAddr(addr, "host must be an IPv4 literal, [IPv6] or localhost");
  }
  return absl::StrCat(host, ":", port_str);
}

}  // namespace

// Worker threads of the metrics server: each slow client holds one.
constexpr int kServerThreads = 16;

absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartMetricsExposer(
    const std::string& listen_addr,
    const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables,
    const MetricsServerOptions& options) {
  for (const auto& c : collectables) {
    if (c == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("metrics on '", listen_addr, "': null collectable"));
    }
  }
  absl::StatusOr<std::string> port = ToListeningPort(listen_addr);
  if (!port.ok()) return port.status();
  std::string user, password;
  if (!options.basic_auth_file.empty()) {
    absl::StatusOr<std::string> text = ReadFile(options.basic_auth_file);
    if (!text.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--metrics-auth-file: ", text.status().message()));
    }
    std::string_view line(*text);
    line = line.substr(0, line.find('\n'));
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    const size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == line.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--metrics-auth-file: ", options.basic_auth_file,
          ": the first line must be USER:PASSWORD, both non-empty"));
    }
    user = std::string(line.substr(0, colon));
    password = std::string(line.substr(colon + 1));
  }
  std::vector<std::string> civet_options = {"listening_ports", *port, "num_threads",
                                            std::to_string(kServerThreads), "request_timeout_ms",
                                            "5000"};
  // Behind /healthz: no metrics, the endpoint only has to answer.
  static const std::shared_ptr<prometheus::Collectable> kNothing =
      std::make_shared<prometheus::Registry>();
  CivetCallbacks callbacks;
  callbacks.log_message = &LogMessage;
  std::string log;
  start_log = &log;
  std::unique_ptr<prometheus::Exposer> exposer;
  std::string error;
  try {
    // civetweb gives each connection a worker thread while it reads the
    // request, so a few slow or silent clients used to take both threads
    // prometheus-cpp starts by default and /healthz (the liveness probe)
    // stopped answering. kServerThreads of them, and a 5 s read timeout that
    // frees a thread held by a silent client, keep it answering.
    exposer = std::make_unique<prometheus::Exposer>(civet_options, &callbacks);
    for (const auto& c : collectables) exposer->RegisterCollectable(c);
    if (!user.empty()) {
      exposer->RegisterAuth(
          [user, password](const std::string& u, const std::string& p) {
            // Constant time in the contents (lengths may show).
            unsigned char diff = u.size() == user.size() && p.size() == password.size() ? 0 : 1;
            for (size_t i = 0; i < u.size() && i < user.size(); ++i) diff |= u[i] ^ user[i];
            for (size_t i = 0; i < p.size() && i < password.size(); ++i) diff |= p[i] ^ password[i];
            return diff == 0;
          },
          "eqat metrics");
    }
    exposer->RegisterCollectable(kNothing, "/healthz");
  } catch (const std::exception& e) {  // CivetServer throws when mg_start fails
    error = log.empty() ? e.what() : log;
    exposer.reset();
  }
  start_log = nullptr;
  if (exposer == nullptr) {
    std::string msg =
        absl::StrCat("metrics server on '", listen_addr, "' failed to start: ", error);
    // civetweb: "cannot bind to ...", "Failed to setup server ports", ...
    if (absl::StrContains(error, "bind") || absl::StrContains(error, "listen") ||
        absl::StrContains(error, "server ports")) {
      return absl::UnavailableError(msg);
    }
    return absl::InternalError(msg);
  }
  return exposer;
}

prometheus::Histogram::BucketBoundaries ExponentialBuckets(double start, double factor,
                                                           int count) {
  prometheus::Histogram::BucketBoundaries b;
  for (int i = 0; i < count; ++i, start *= factor) b.push_back(start);
  return b;
}

}  // namespace eqat
