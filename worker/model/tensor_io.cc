#include "worker/model/tensor_io.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace eqat {
namespace {

torch::ScalarType ToTorch(DType d) {
  switch (d) {
    case DType::kF64: return torch::kDouble;
    case DType::kF32: return torch::kFloat;
    case DType::kF16: return torch::kHalf;
    case DType::kBF16: return torch::kBFloat16;
    case DType::kI64: return torch::kLong;
    case DType::kI32: return torch::kInt;
    case DType::kI16: return torch::kShort;
    case DType::kI8: return torch::kChar;
    case DType::kU8: return torch::kByte;
    case DType::kBool: return torch::kBool;
  }
  return torch::kFloat;
}

absl::Status CheckShape(const TensorInfo& info, const std::vector<int64_t>& shape) {
  if (!shape.empty() && info.shape != shape) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", info.name, "' has shape [", absl::StrJoin(info.shape, ","),
                     "], expected [", absl::StrJoin(shape, ","), "]"));
  }
  return absl::OkStatus();
}

torch::Tensor CopyOut(const TensorView& v) {
  auto t = torch::empty(v.info->shape, torch::TensorOptions().dtype(ToTorch(v.info->dtype)));
  if (v.info->nbytes() > 0) std::memcpy(t.data_ptr(), v.data, v.info->nbytes());
  return t;
}

}  // namespace

absl::StatusOr<torch::Tensor> ReadTensor(const SafetensorsModel& st, const std::string& name) {
  ASSIGN_OR_RETURN(TensorView v, st.Get(name));
  return CopyOut(v);
}

absl::StatusOr<torch::Tensor> ReadFloatTensor(const SafetensorsModel& st, const std::string& name,
                                              const std::vector<int64_t>& shape) {
  ASSIGN_OR_RETURN(TensorView v, st.Get(name));
  if (v.info->dtype != DType::kF32 && v.info->dtype != DType::kF16 &&
      v.info->dtype != DType::kBF16) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' has dtype ",
                                                   std::string(DTypeName(v.info->dtype)),
                                                   ", expected F32, F16 or BF16"));
  }
  RETURN_IF_ERROR(CheckShape(*v.info, shape));
  return CopyOut(v).to(torch::kFloat);
}

absl::StatusOr<torch::Tensor> ReadInt32Tensor(const SafetensorsModel& st, const std::string& name,
                                              const std::vector<int64_t>& shape) {
  ASSIGN_OR_RETURN(TensorView v, st.Get(name));
  if (v.info->dtype != DType::kI32) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' has dtype ",
                                                   std::string(DTypeName(v.info->dtype)), ", expected I32"));
  }
  RETURN_IF_ERROR(CheckShape(*v.info, shape));
  return CopyOut(v);
}

TensorToWrite ToWrite(const std::string& name, const torch::Tensor& t, DType dtype) {
  torch::ScalarType st = ToTorch(dtype);
  auto c = t.detach().to(torch::kCPU).to(st).contiguous();
  TensorToWrite w;
  w.name = name;
  w.dtype = dtype;
  w.shape.assign(c.sizes().begin(), c.sizes().end());
  w.data.assign(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  return w;
}

}  // namespace eqat
