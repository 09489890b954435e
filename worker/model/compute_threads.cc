#include "worker/model/compute_threads.h"

#include <torch/torch.h>

#include <algorithm>
#include <thread>

#include "common/compute_env.h"

namespace eqat {

void SetComputeThreads(int n) {
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ConfigureProcessForCompute();
  torch::set_num_threads(n);
}

}  // namespace eqat
