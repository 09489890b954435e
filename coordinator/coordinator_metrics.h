// Every metric the coordinator exports, registered in one place. The names
// and help texts are the public contract (dashboards, deploy/ alerts); do
// not rename them. Pointers are owned by the registry and stay valid for
// its lifetime.
// Thread-safety: metric objects are thread-safe; the struct is immutable
// after construction.
#ifndef EQAT_COORDINATOR_COORDINATOR_METRICS_H_
#define EQAT_COORDINATOR_COORDINATOR_METRICS_H_

#include "common/metrics.h"

namespace eqat {

struct CoordinatorMetrics {
  explicit CoordinatorMetrics(metrics::Registry* registry);

  metrics::Family<metrics::Gauge>* jobs;           // eqat_jobs{state}
  metrics::Counter* blocks_completed;              // eqat_blocks_completed_total
  metrics::Family<metrics::Gauge>* block_loss;     // eqat_block_loss{kind}
  metrics::Histogram* step_seconds;                // eqat_train_step_seconds
  metrics::Gauge* tokens_per_second;               // eqat_tokens_per_second
  metrics::Family<metrics::Counter>* transport_bytes;  // eqat_transport_bytes_total{direction}
  metrics::Counter* transport_wait;                // eqat_transport_wait_seconds_total
  metrics::Gauge* queue_depth;                     // eqat_queue_depth
  metrics::Family<metrics::Gauge>* worker_up;      // eqat_worker_up{worker}
  metrics::Family<metrics::Gauge>* heartbeat_age;  // eqat_worker_heartbeat_age_seconds{worker}
};

}  // namespace eqat

#endif  // EQAT_COORDINATOR_COORDINATOR_METRICS_H_
