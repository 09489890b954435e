#include "worker/methods/activation_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace eqat {
namespace {

// Releases the pages covering [p, p+bytes) from this process (whole pages
// inside the range only; data stays in the file).
void ReleasePages(void* p, size_t bytes) {
  static const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
  uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(page - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ActivationStore>> ActivationStore::Create(
    int64_t n, const std::vector<int64_t>& shape, const ActivationStoreOptions& o) {
  if (n < 1 || shape.empty()) {
    return absl::InvalidArgumentError("activation store: needs n >= 1 and a sample shape");
  }
  auto s = std::unique_ptr<ActivationStore>(new ActivationStore());
  s->n_ = n;
  s->shape_ = shape;
  s->sample_elems_ = 1;
  for (int64_t d : shape) s->sample_elems_ *= d;
  int64_t sample_bytes = s->sample_elems_ * static_cast<int64_t>(sizeof(float));
  s->resident_ = std::min<int64_t>(n, std::max<int64_t>(0, o.ram_budget_bytes / sample_bytes));
  std::vector<int64_t> ram_shape = {s->resident_};
  ram_shape.insert(ram_shape.end(), shape.begin(), shape.end());
  s->ram_ = torch::empty(ram_shape, torch::kFloat);
  int64_t spilled = n - s->resident_;
  if (spilled > 0) {
    std::string tmpl = o.spill_dir + "/eqat-activations-XXXXXX";
    std::vector<char> path(tmpl.begin(), tmpl.end());
    path.push_back('\0');
    int fd = mkstemp(path.data());
    if (fd < 0) {
      return absl::PermissionDeniedError(absl::StrCat(
          "cache: cannot create a spill file in '", o.spill_dir, "': ", std::strerror(errno)));
    }
    unlink(path.data());
    s->map_bytes_ = static_cast<size_t>(spilled) * static_cast<size_t>(sample_bytes);
    if (ftruncate(fd, static_cast<off_t>(s->map_bytes_)) != 0) {
      close(fd);
      return absl::ResourceExhaustedError(absl::StrCat("cache: cannot size spill file to ",
                                                       s->map_bytes_, " bytes"));
    }
    void* m = mmap(nullptr, s->map_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
      return absl::ResourceExhaustedError(absl::StrCat("cache: cannot map spill file: ",
                                                       std::strerror(errno)));
    }
    s->map_ = static_cast<float*>(m);
  }
  return s;
}

ActivationStore::~ActivationStore() {
  if (map_ != nullptr) munmap(map_, map_bytes_);
}

torch::Tensor ActivationStore::Read(int64_t first, int64_t count) const {
  TORCH_CHECK(first >= 0 && count > 0 && first + count <= n_, "activation store: bad range");
  if (first + count <= resident_) return ram_.narrow(0, first, count);
  std::vector<int64_t> out_shape = {count};
  out_shape.insert(out_shape.end(), shape_.begin(), shape_.end());
  auto out = torch::empty(out_shape, torch::kFloat);
  int64_t in_ram = std::max<int64_t>(0, resident_ - first);
  if (in_ram > 0) out.narrow(0, 0, in_ram).copy_(ram_.narrow(0, first, in_ram));
  int64_t spill_first = std::max(first, resident_) - resident_;
  int64_t spill_count = count - in_ram;
  float* src = map_ + spill_first * sample_elems_;
  size_t bytes = static_cast<size_t>(spill_count * sample_elems_) * sizeof(float);
  std::memcpy(out.data_ptr<float>() + in_ram * sample_elems_, src, bytes);
  ReleasePages(src, bytes);
  return out;
}

void ActivationStore::Write(int64_t first, const torch::Tensor& x_in) {
  int64_t count = x_in.size(0);
  TORCH_CHECK(first >= 0 && count > 0 && first + count <= n_, "activation store: bad range");
  auto x = x_in.detach().to(torch::kCPU).to(torch::kFloat).contiguous();
  TORCH_CHECK(x.numel() == count * sample_elems_, "activation store: bad sample shape");
  int64_t in_ram = std::max<int64_t>(0, std::min(count, resident_ - first));
  if (in_ram > 0) {
    ram_.narrow(0, first, in_ram).copy_(x.narrow(0, 0, in_ram).view(ram_.narrow(0, first, in_ram).sizes()));
  }
  int64_t spill_count = count - in_ram;
  if (spill_count > 0) {
    int64_t spill_first = std::max(first, resident_) - resident_;
    float* dst = map_ + spill_first * sample_elems_;
    size_t bytes = static_cast<size_t>(spill_count * sample_elems_) * sizeof(float);
    std::memcpy(dst, x.data_ptr<float>() + in_ram * sample_elems_, bytes);
    ReleasePages(dst, bytes);
  }
}

torch::Tensor ActivationStore::Gather(const std::vector<int64_t>& indices) const {
  std::vector<torch::Tensor> parts;
  parts.reserve(indices.size());
  for (int64_t i : indices) parts.push_back(Read(i, 1));
  return torch::cat(parts, 0);
}

void ActivationStore::CopyFrom(const ActivationStore& src) {
  TORCH_CHECK(src.n_ == n_ && src.shape_ == shape_, "activation store: copy between different shapes");
  constexpr int64_t kBatch = 8;
  for (int64_t i = 0; i < n_; i += kBatch) Write(i, src.Read(i, std::min(kBatch, n_ - i)));
}

}  // namespace eqat
