// Every metric the coordinator exports, registered in one place. The names
// and help texts are the public contract (dashboards, deploy/ alerts). All
// start with eqat_coordinator_, so the coordinator's job-level aggregates
// never add up with the workers' own series (README, "Metrics"). Pointers are owned by the registry and stay valid for
// its lifetime.
// Thread-safety: metric objects are thread-safe; the struct is immutable
// after construction.
#ifndef EQAT_COORDINATOR_COORDINATOR_METRICS_H_
#define EQAT_COORDINATOR_COORDINATOR_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace eqat {

struct CoordinatorMetrics {
  explicit CoordinatorMetrics(prometheus::Registry* registry);

  prometheus::Family<prometheus::Gauge>* jobs;           // eqat_coordinator_jobs{state}
  prometheus::Counter* blocks_completed;              // eqat_coordinator_blocks_completed_total
  prometheus::Family<prometheus::Gauge>* block_loss;     // eqat_coordinator_block_loss{kind}
  prometheus::Histogram* step_seconds;                // eqat_coordinator_train_step_seconds
  prometheus::Gauge* tokens_per_second;               // eqat_coordinator_tokens_per_second
  prometheus::Family<prometheus::Counter>* transport_bytes;  // eqat_coordinator_transport_bytes_total{direction}
  prometheus::Counter* transport_wait;                // eqat_coordinator_transport_wait_seconds_total
  prometheus::Gauge* queue_depth;                     // eqat_coordinator_queue_depth
  prometheus::Family<prometheus::Gauge>* worker_up;      // eqat_coordinator_worker_up{worker}
  prometheus::Family<prometheus::Gauge>* heartbeat_age;  // eqat_coordinator_worker_heartbeat_age_seconds{worker}
};

}  // namespace eqat

#endif  // EQAT_COORDINATOR_COORDINATOR_METRICS_H_
