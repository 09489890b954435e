#include "common/metrics_http.h"

#include <dlfcn.h>
#include <pthread.h>

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

// civetweb creates its threads with a small compiled-in stack size. In a
// process that also loads LibTorch, the static TLS of its libraries no
// longer fits in that stack and pthread_create fails ("Cannot create first
// worker thread"). This definition interposes the libc function for the
// whole process (it lives in the executable, which links this file whenever
// it uses the Exposer) and raises requests below 1 MiB to 1 MiB.
extern "C" int pthread_attr_setstacksize(pthread_attr_t* attr, size_t size) {
  using Fn = int (*)(pthread_attr_t*, size_t);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "pthread_attr_setstacksize"));
  const size_t kMin = size_t{1} << 20;
  return real(attr, size < kMin ? kMin : size);
}

namespace eqat::metrics {
namespace {

absl::Status BadAddr(const std::string& addr, const std::string& why) {
  return absl::InvalidArgumentError(
      absl::StrCat("metrics listen address '", addr, "': ", why,
                   " (want PORT, IPv4:PORT, [IPv6]:PORT or localhost:PORT)"));
}

// Turns the user's address into civetweb's listening_ports syntax.
absl::StatusOr<std::string> ToListeningPorts(const std::string& addr) {
  std::string host, port_str;
  size_t colon = addr.rfind(':');
  if (colon == std::string::npos) {
    port_str = addr;
  } else {
    host = addr.substr(0, colon);
    port_str = addr.substr(colon + 1);
    if (host.empty()) return BadAddr(addr, "empty host");
  }
  uint32_t port = 0;
  if (port_str.empty() || port_str.size() > 5 ||
      port_str.find_first_not_of("0123456789") != std::string::npos ||
      !absl::SimpleAtoi(port_str, &port) || port > 65535) {
    return BadAddr(addr, "port must be a number in [0, 65535]");
  }
  if (host.empty()) return absl::StrCat(port);
  if (absl::AsciiStrToLower(host) == "localhost") host = "127.0.0.1";
  unsigned char buf[16];
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']' ||
        inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), buf) != 1) {
      return BadAddr(addr, "invalid IPv6 address");
    }
    if (!mg_check_feature(8 /* MG_FEATURES_IPV6 */)) {
      return BadAddr(addr, "this civetweb build has no IPv6 support");
    }
  } else if (inet_pton(AF_INET, host.c_str(), buf) != 1) {
    return BadAddr(addr, "host must be an IPv4 literal, [IPv6] or localhost");
  }
  return absl::StrCat(host, ":", port);
}

// While Create() runs mg_start2 on this thread, civetweb's messages go here
// (they end up in the returned Status) instead of stderr.
thread_local std::string* start_log = nullptr;

int LogMessage(const mg_connection*, const char* message) {
  if (start_log != nullptr) {
    absl::StrAppend(start_log, start_log->empty() ? "" : "; ", message);
  } else {
    std::fprintf(stderr, "eqat metrics http: %s\n", message);
  }
  return 1;  // handled; civetweb logs nothing itself
}

// civetweb's accept loop polls with a 2 s quantum, so mg_stop() alone takes
// ~2 s. Connecting to our own listener wakes the loop so it sees the stop.
void PokeListener(const std::string& host, int port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (host.empty() || host == "0.0.0.0") {
    v4->sin_family = AF_INET;
    v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else if (host.front() == '[') {
    std::string h = host.substr(1, host.size() - 2);
    v6->sin6_family = AF_INET6;
    if (h == "::") h = "::1";
    if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) != 1) return;
  } else {
    v4->sin_family = AF_INET;
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) != 1) return;
  }
  if (ss.ss_family == AF_INET) {
    v4->sin_port = htons(port);
    len = sizeof(sockaddr_in);
  } else {
    v6->sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  close(fd);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Exposer>> Exposer::Create(const std::string& listen_addr,
                                                         Registry* registry) {
  if (registry == nullptr) return absl::InvalidArgumentError("Exposer: registry is null");
  absl::StatusOr<std::string> ports = ToListeningPorts(listen_addr);
  if (!ports.ok()) return ports.status();

  static std::once_flag init_once;
  std::call_once(init_once, [] { mg_init_library(0); });

  std::unique_ptr<Exposer> e(new Exposer(listen_addr, registry));
  const char* options[] = {"listening_ports",    ports->c_str(),
                           "num_threads",        "2",
                           "request_timeout_ms", "10000",
                           "enable_keep_alive",  "no",
                           nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  callbacks.log_message = &LogMessage;
  mg_init_data init;
  std::memset(&init, 0, sizeof(init));
  init.callbacks = &callbacks;
  init.user_data = e.get();
  init.configuration_options = options;
  char text[512] = "";
  unsigned code = 0;
  mg_error_data error;
  std::memset(&error, 0, sizeof(error));
  error.code = &code;
  error.text = text;
  error.text_buffer_size = sizeof(text);

  std::string log;
  start_log = &log;
  e->ctx_ = mg_start2(&init, &error);
  start_log = nullptr;
  if (e->ctx_ == nullptr) {
    if (log.empty()) log = text[0] ? text : "unknown error";
    std::string msg =
        absl::StrCat("metrics server on '", listen_addr, "' failed to start: ", log);
    // Bind/listen failures: "cannot bind to ...", "Failed to setup server ports".
    if (absl::StrContains(log, "bind") || absl::StrContains(log, "listen") ||
        absl::StrContains(log, "server ports") || absl::StrContains(text, "server ports")) {
      return absl::UnavailableError(msg);
    }
    return absl::InternalError(msg);
  }
  mg_set_request_handler(e->ctx_, "/", &Exposer::HandleRequest, e.get());

  mg_server_port sp[4];
  std::memset(sp, 0, sizeof(sp));
  int n = mg_get_server_ports(e->ctx_, 4, sp);
  if (n < 1 || sp[0].port <= 0) {
    return absl::InternalError(
        absl::StrCat("metrics server on '", listen_addr, "': cannot determine bound port"));
  }
  e->port_ = sp[0].port;
  size_t colon = ports->rfind(':');
  e->wake_host_ = colon == std::string::npos ? "" : ports->substr(0, colon);
  return e;
}

Exposer::~Exposer() {
  if (ctx_ == nullptr) return;
  std::atomic<bool> stopped{false};
  std::thread waker;
  if (port_ > 0) {
    waker = std::thread([&] {
      while (!stopped.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (!stopped.load()) PokeListener(wake_host_, port_);
      }
    });
  }
  mg_stop(ctx_);
  stopped = true;
  if (waker.joinable()) waker.join();
}

void Exposer::SetPreScrapeHook(std::function<void()> hook) {
  absl::MutexLock lock(&hook_mu_);
  hook_ = std::move(hook);
}

int Exposer::HandleRequest(mg_connection* conn, void* cbdata) {
  auto* self = static_cast<Exposer*>(cbdata);
  const mg_request_info* ri = mg_get_request_info(conn);
  std::string_view method = ri->request_method ? ri->request_method : "";
  std::string_view uri = ri->local_uri ? ri->local_uri : "";
  const bool head = method == "HEAD";
  if (method != "GET" && !head) {
    mg_send_http_error(conn, 405, "%s", "method not allowed\n");
    return 405;
  }
  std::string body;
  const char* type = "text/plain; charset=utf-8";
  if (uri == "/metrics") {
    {
      absl::MutexLock lock(&self->hook_mu_);
      if (self->hook_) self->hook_();
    }
    body = SerializeText(*self->registry_);
    type = kContentType;
  } else if (uri == "/healthz") {
    body = "ok";
  } else {
    mg_send_http_error(conn, 404, "%s", "not found\n");
    return 404;
  }
  mg_send_http_ok(conn, type, static_cast<long long>(body.size()));
  if (!head) mg_write(conn, body.data(), body.size());
  return 200;
}

}  // namespace eqat::metrics
