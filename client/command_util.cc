#include "client/command_util.h"

#include <torch/torch.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/status_macros.h"

namespace eqat {

absl::Status GuardTorch(const std::function<absl::Status()>& fn) {
  try {
    return fn();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("torch: ", e.what_without_backtrace()));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory");
  } catch (const std::exception& e) {
    return absl::InternalError(e.what());
  }
}

absl::Status CheckModelDir(const std::string& flag, const std::string& dir) {
  if (dir.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": is required"));
  if (!IsDirectory(dir)) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": '", dir, "' is not a directory"));
  }
  if (!PathExists(JoinPath(dir, "config.json"))) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": '", dir, "' has no config.json (expected a Hugging Face folder)"));
  }
  return absl::OkStatus();
}

absl::Status CheckInputFile(const std::string& flag, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": is required"));
  if (!PathExists(path)) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": '", path, "' does not exist"));
  }
  if (IsDirectory(path)) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": '", path, "' is a directory"));
  }
  if (access(path.c_str(), R_OK) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": '", path, "' is not readable"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadModelTokenizer(const std::string& model_dir) {
  return Tokenizer::LoadFromDir(model_dir);
}

absl::StatusOr<int64_t> ResolveSeqlen(const std::string& flag, int64_t requested,
                                      const ModelConfig& cfg) {
  if (requested == 0) return std::min<int64_t>(2048, cfg.max_position_embeddings);
  if (requested < 2) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", requested, " must be >= 2"));
  }
  if (requested > cfg.max_position_embeddings) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": ", requested, " exceeds the model's context of ",
                     cfg.max_position_embeddings, " tokens (max_position_embeddings)"));
  }
  return requested;
}

absl::StatusOr<torch::Device> ParseDevice(const std::string& flag, const std::string& text) {
  if (text == "cpu") return torch::Device(torch::kCPU);
  if (text.rfind("cuda", 0) == 0) {
    int index = 0;
    if (text.size() > 4) {
      if (text[4] != ':' || text.size() == 5) {
        return absl::InvalidArgumentError(absl::StrCat(flag, ": '", text, "' (use cpu, cuda or cuda:N)"));
      }
      char* end = nullptr;
      long v = std::strtol(text.c_str() + 5, &end, 10);
      if (*end != '\0' || v < 0 || v > 255) {
        return absl::InvalidArgumentError(absl::StrCat(flag, ": '", text, "' has a bad device index"));
      }
      index = static_cast<int>(v);
    }
    if (!torch::cuda::is_available()) {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, ": '", text, "' asked for, but this LibTorch build or machine has no CUDA device"));
    }
    if (index >= static_cast<int>(torch::cuda::device_count())) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": '", text, "' but only ",
                                                     torch::cuda::device_count(), " devices"));
    }
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  return absl::InvalidArgumentError(absl::StrCat(flag, ": '", text, "' (use cpu, cuda or cuda:N)"));
}

}  // namespace eqat
