// Learning-rate schedules used by the trainers. Pure functions; thread-safe.
#ifndef EQAT_WORKER_METHODS_LR_SCHEDULE_H_
#define EQAT_WORKER_METHODS_LR_SCHEDULE_H_

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace eqat {

// Cosine decay from `lr` at step 0 to `min_lr` at step `total` (clamped).
inline double CosineLr(double lr, double min_lr, int64_t step, int64_t total) {
  if (total <= 0) return lr;
  double t = std::min<double>(1.0, static_cast<double>(step) / static_cast<double>(total));
  return min_lr + (lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * t));
}

// Linear warm-up over `warmup` steps from 0 to lr, then cosine to 0, as
// transformers' get_cosine_schedule_with_warmup (which the official E2E-QP
// recipe uses): step 0 has lr 0, step `warmup` has lr.
inline double WarmupCosineLr(double lr, int64_t step, int64_t warmup, int64_t total) {
  if (warmup > 0 && step < warmup) {
    return lr * static_cast<double>(step) / static_cast<double>(warmup);
  }
  return CosineLr(lr, 0.0, step - warmup, total - warmup);
}

// MREM-P teacher-forcing weight: lambda goes linearly from 1 at step 0 to 0
// at step anneal_fraction * total and stays 0 after it (anneal_fraction <= 0:
// always 0, i.e. no teacher forcing).
inline double AnnealedLambda(int64_t step, int64_t total, double anneal_fraction) {
  double span = anneal_fraction * static_cast<double>(total);
  if (span <= 0) return 0.0;
  return std::max(0.0, 1.0 - static_cast<double>(step) / span);
}

}  // namespace eqat

#endif  // EQAT_WORKER_METHODS_LR_SCHEDULE_H_
