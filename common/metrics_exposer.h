// StartMetricsExposer: a prometheus::Exposer (prometheus-cpp's civetweb
// server) that reports errors as absl::Status instead of throwing.
//   GET /metrics  the collectables, text format 0.0.4 (gzip if asked), plus
//                 prometheus-cpp's own exposer_* scrape statistics
//   GET /healthz  200 while the server runs, for probes (the body only has
//                 that endpoint's exposer_* statistics)
// `listen_addr`: "PORT" (all IPv4 interfaces), "IPv4:PORT", "[IPv6]:PORT" or
// "localhost:PORT" (= 127.0.0.1); port 0 picks a free port, see
// Exposer::GetListeningPorts(). Errors: InvalidArgument naming the address
// when it cannot be parsed or `collectables` holds a null; Unavailable naming
// the address when it cannot be bound (port in use, address not local);
// Internal for other start failures (civetweb's message included). Nothing
// here throws.
//
// Linking this file also raises civetweb's thread stack size for the whole
// process (see metrics_exposer.cc): without that, the server cannot start
// threads in a process that loads LibTorch.
//
// prometheus-cpp 1.0.1 writes "# HELP" text verbatim: keep help strings on
// one line and free of backslashes, or the exposition becomes invalid.
//
// Protection (MetricsServerOptions), for /metrics only (/healthz stays open
// for probes):
//   basic_auth_file  a file whose first line is "USER:PASSWORD": /metrics
//                    then answers 401 without those HTTP basic credentials
// Errors for that file are InvalidArgument naming --metrics-auth-file; the
// password is never echoed. No HTTPS: Debian 12's civetweb 1.15 loads
// libssl.so by OpenSSL 1.1 symbol names, which OpenSSL 3 no longer exports
// (start-up fails with "cannot find SSL_get_peer_certificate"); bind /metrics
// to a private address or put a TLS proxy in front of it.
//
// The Exposer holds weak references: the caller keeps the collectables alive
// as long as they should be served. Thread-safety: as prometheus::Exposer.
#ifndef EQAT_COMMON_METRICS_EXPOSER_H_
#define EQAT_COMMON_METRICS_EXPOSER_H_

#include <memory>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/histogram.h>

#include "absl/status/statusor.h"

namespace eqat {

struct MetricsServerOptions {
  std::string basic_auth_file;
};

absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartMetricsExposer(
    const std::string& listen_addr,
    const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables,
    const MetricsServerOptions& options = {});

// start, start*factor, ... (`count` upper bounds; +Inf is implicit).
prometheus::Histogram::BucketBoundaries ExponentialBuckets(double start, double factor,
                                                           int count);

}  // namespace eqat

#endif  // EQAT_COMMON_METRICS_EXPOSER_H_
