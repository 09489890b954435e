// Exposer: a tiny civetweb HTTP server for Prometheus scrapes (the shape of
// prometheus-cpp's Exposer).
//   GET|HEAD /metrics  SerializeText(registry), Content-Type
//                      "text/plain; version=0.0.4; charset=utf-8"
//   GET|HEAD /healthz  "ok"
//   anything else      404 (other methods: 405)
// It binds exactly the address given: "PORT" (all IPv4 interfaces),
// "IPv4:PORT", "[IPv6]:PORT" or "localhost:PORT" (= 127.0.0.1); port 0 picks
// a free port, see port(). Two server threads.
//
// Thread-safety: all methods are thread-safe. The registry must outlive the
// Exposer; the destructor stops the server and waits for in-flight requests.
#ifndef EQAT_COMMON_METRICS_HTTP_H_
#define EQAT_COMMON_METRICS_HTTP_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"

struct mg_context;
struct mg_connection;

namespace eqat::metrics {

class Exposer {
 public:
  static constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

  // InvalidArgument (naming the address) if `listen_addr` cannot be parsed or
  // `registry` is null; Unavailable if the address cannot be bound (e.g. the
  // port is in use); Internal for other start failures.
  static absl::StatusOr<std::unique_ptr<Exposer>> Create(const std::string& listen_addr,
                                                         Registry* registry);
  ~Exposer();
  Exposer(const Exposer&) = delete;
  Exposer& operator=(const Exposer&) = delete;

  // The bound port (the real one when 0 was requested).
  int port() const { return port_; }
  const std::string& listen_addr() const { return listen_addr_; }

  // Runs before every /metrics serialization (e.g. UpdateProcessMetrics, or
  // refreshing queue-depth gauges). Hooks run one at a time; once this call
  // returns, the previous hook is no longer running. nullptr clears it.
  void SetPreScrapeHook(std::function<void()> hook);

 private:
  Exposer(std::string listen_addr, Registry* registry)
      : listen_addr_(std::move(listen_addr)), registry_(registry) {}
  static int HandleRequest(mg_connection* conn, void* cbdata);

  const std::string listen_addr_;
  Registry* const registry_;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
  std::string wake_host_;  // host part of the listening_ports option
  absl::Mutex hook_mu_;
  std::function<void()> hook_ ABSL_GUARDED_BY(hook_mu_);
};

}  // namespace eqat::metrics

#endif  // EQAT_COMMON_METRICS_HTTP_H_
