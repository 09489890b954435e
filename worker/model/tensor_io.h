// Bridge between safetensors views (common/) and LibTorch tensors.
// Thread-safe: pure functions; returned tensors own their memory (copied out
// of the mapping), so they outlive the SafetensorsModel.
#ifndef EQAT_WORKER_MODEL_TENSOR_IO_H_
#define EQAT_WORKER_MODEL_TENSOR_IO_H_

#include <torch/torch.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/safetensors.h"

namespace eqat {

// Reads `name` as float32. The stored dtype must be F32, F16 or BF16 and the
// shape must equal `shape` (when non-empty); InvalidArgument names the
// tensor, found and expected shape/dtype; NotFound when missing.
absl::StatusOr<torch::Tensor> ReadFloatTensor(const SafetensorsModel& st, const std::string& name,
                                              const std::vector<int64_t>& shape);

// Reads `name` as int32 (stored I32), shape checked when non-empty.
absl::StatusOr<torch::Tensor> ReadInt32Tensor(const SafetensorsModel& st, const std::string& name,
                                              const std::vector<int64_t>& shape);

// Reads any supported dtype as a tensor of the same dtype (no checks).
absl::StatusOr<torch::Tensor> ReadTensor(const SafetensorsModel& st, const std::string& name);

// A contiguous CPU copy of `t` ready for WriteSafetensors, in `dtype`
// (F32, F16, BF16 or I32).
TensorToWrite ToWrite(const std::string& name, const torch::Tensor& t, DType dtype);

}  // namespace eqat

#endif  // EQAT_WORKER_MODEL_TENSOR_IO_H_
