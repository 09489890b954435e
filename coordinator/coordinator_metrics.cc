#include "coordinator/coordinator_metrics.h"

#include "common/metrics_exposer.h"

namespace eqat {

CoordinatorMetrics::CoordinatorMetrics(prometheus::Registry* r) {
  jobs = &prometheus::BuildGauge().Name("eqat_coordinator_jobs").Help("Jobs by state.").Register(*r);
  blocks_completed = &prometheus::BuildCounter()
                          .Name("eqat_coordinator_blocks_completed_total")
                          .Help("Transformer blocks quantized and packed.")
                          .Register(*r)
                          .Add({});
  block_loss = &prometheus::BuildGauge()
                    .Name("eqat_coordinator_block_loss")
                    .Help("Block-AP loss of the last finished block (MSE).")
                    .Register(*r);
  step_seconds = &prometheus::BuildHistogram()
                      .Name("eqat_coordinator_train_step_seconds")
                      .Help("Duration of one training step on the workers.")
                      .Register(*r)
                      .Add({}, ExponentialBuckets(0.001, 2, 16));
  tokens_per_second = &prometheus::BuildGauge()
                           .Name("eqat_coordinator_tokens_per_second")
                           .Help("Training throughput last reported by a worker.")
                           .Register(*r)
                           .Add({});
  transport_bytes = &prometheus::BuildCounter()
                         .Name("eqat_coordinator_transport_bytes_total")
                         .Help("Activation bytes streamed between workers.")
                         .Register(*r);
  transport_wait = &prometheus::BuildCounter()
                        .Name("eqat_coordinator_transport_wait_seconds_total")
                        .Help("Time workers spent waiting on activation streams.")
                        .Register(*r)
                        .Add({});
  queue_depth = &prometheus::BuildGauge()
                     .Name("eqat_coordinator_queue_depth")
                     .Help("Jobs waiting for their first stage to start.")
                     .Register(*r)
                     .Add({});
  worker_up = &prometheus::BuildGauge().Name("eqat_coordinator_worker_up").Help("1 if the worker is alive.").Register(*r);
  heartbeat_age = &prometheus::BuildGauge()
                       .Name("eqat_coordinator_worker_heartbeat_age_seconds")
                       .Help("Seconds since the worker's last heartbeat.")
                       .Register(*r);
}

}  // namespace eqat
