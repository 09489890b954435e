// Process-wide settings that make CPU tensor work fast on small machines.
//  - glibc malloc: keep large blocks in the heap instead of mmap/munmap on
//    every tensor (that page-fault churn doubled eval time on 2 cores).
//  - OpenBLAS: one thread per call. LibTorch already parallelises around the
//    BLAS calls; OpenBLAS's own pool on top oversubscribes the cores and
//    spends its time spinning (measured: 3.5 s vs 13.4 s for 100 eval windows).
// Call once at startup, before heavy work. Thread-safe to call repeatedly.
#ifndef EQAT_COMMON_COMPUTE_ENV_H_
#define EQAT_COMMON_COMPUTE_ENV_H_

namespace eqat {

void ConfigureProcessForCompute();

}  // namespace eqat

#endif  // EQAT_COMMON_COMPUTE_ENV_H_
