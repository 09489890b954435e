#include "common/compute_env.h"

#include <dlfcn.h>
#include <malloc.h>

#include <initializer_list>

namespace eqat {

void ConfigureProcessForCompute() {
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  using SetThreads = void (*)(int);
  for (const char* sym : {"openblas_set_num_threads", "goto_set_num_threads"}) {
    if (auto fn = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, sym))) {
      fn(1);
      break;
    }
  }
}

}  // namespace eqat
