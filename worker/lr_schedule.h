// Learning-rate schedules used by the trainers. Pure functions; thread-safe.
#ifndef EQAT_WORKER_LR_SCHEDULE_H_
#define EQAT_WORKER_LR_SCHEDULE_H_

#include <cmath>
#include <cstdint>

namespace eqat {

// Cosine decay from `lr` at step 0 to `min_lr` at step `total` (clamped).
inline double CosineLr(double lr, double min_lr, int64_t step, int64_t total) {
  if (total <= 0) return lr;
  double t = std::min<double>(1.0, static_cast<double>(step) / static_cast<double>(total));
  return min_lr + (lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * t));
}

// Linear warm-up over `warmup` steps from 0 to lr, then cosine to 0.
inline double WarmupCosineLr(double lr, int64_t step, int64_t warmup, int64_t total) {
  if (warmup > 0 && step < warmup) {
    return lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  }
  return CosineLr(lr, 0.0, step - warmup, total - warmup);
}

}  // namespace eqat

#endif  // EQAT_WORKER_LR_SCHEDULE_H_
