#include "coordinator/coordinator_metrics.h"

namespace eqat {

CoordinatorMetrics::CoordinatorMetrics(metrics::Registry* r) {
  jobs = &metrics::BuildGauge().Name("eqat_jobs").Help("Jobs by state.").Register(*r);
  blocks_completed = &metrics::BuildCounter()
                          .Name("eqat_blocks_completed_total")
                          .Help("Transformer blocks quantized and packed.")
                          .Register(*r)
                          .Add({});
  block_loss = &metrics::BuildGauge()
                    .Name("eqat_block_loss")
                    .Help("Block-AP loss of the last finished block (MSE).")
                    .Register(*r);
  step_seconds = &metrics::BuildHistogram()
                      .Name("eqat_train_step_seconds")
                      .Help("Duration of one training step on the workers.")
                      .Register(*r)
                      .Add({}, metrics::ExponentialBuckets(0.001, 2, 16));
  tokens_per_second = &metrics::BuildGauge()
                           .Name("eqat_tokens_per_second")
                           .Help("Training throughput last reported by a worker.")
                           .Register(*r)
                           .Add({});
  transport_bytes = &metrics::BuildCounter()
                         .Name("eqat_transport_bytes_total")
                         .Help("Activation bytes streamed between workers.")
                         .Register(*r);
  transport_wait = &metrics::BuildCounter()
                        .Name("eqat_transport_wait_seconds_total")
                        .Help("Time workers spent waiting on activation streams.")
                        .Register(*r)
                        .Add({});
  queue_depth = &metrics::BuildGauge()
                     .Name("eqat_queue_depth")
                     .Help("Jobs waiting for their first stage to start.")
                     .Register(*r)
                     .Add({});
  worker_up = &metrics::BuildGauge().Name("eqat_worker_up").Help("1 if the worker is alive.").Register(*r);
  heartbeat_age = &metrics::BuildGauge()
                       .Name("eqat_worker_heartbeat_age_seconds")
                       .Help("Seconds since the worker's last heartbeat.")
                       .Register(*r);
}

}  // namespace eqat
