// Process-wide compute set-up for LibTorch binaries (the eqat CLI and
// eqat-worker): ConfigureProcessForCompute (common/compute_env.h), then `n`
// LibTorch intra-op threads (n <= 0: every core). Call once at start-up,
// before any tensor work.
#ifndef EQAT_WORKER_MODEL_COMPUTE_THREADS_H_
#define EQAT_WORKER_MODEL_COMPUTE_THREADS_H_

namespace eqat {

void SetComputeThreads(int n);

}  // namespace eqat

#endif  // EQAT_WORKER_MODEL_COMPUTE_THREADS_H_
