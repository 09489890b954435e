// ProcessCollector: the standard Prometheus process metrics, which
// prometheus-cpp does not provide, read from /proc at every scrape:
//   process_resident_memory_bytes, process_virtual_memory_bytes (gauges),
//   process_cpu_seconds_total (counter, user + system), process_start_time_seconds
//   (gauge, Unix seconds), process_open_fds (gauge).
// A metric whose source cannot be read is left out of that scrape; Collect()
// never throws. Register it with the Exposer next to the registry (see
// common/metrics_exposer.h). Thread-safe: Collect() keeps no state.
#ifndef EQAT_COMMON_PROCESS_METRICS_H_
#define EQAT_COMMON_PROCESS_METRICS_H_

#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace eqat {

class ProcessCollector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace eqat

#endif  // EQAT_COMMON_PROCESS_METRICS_H_
