// eqat_forward_dump: the full-precision logits of a model folder for given
// token ids, for tests/conformance/hf_forward_test.sh (a test tool, not part
// of the eqat CLI).
//   eqat_forward_dump MODEL_DIR IDS_FILE OUT_FILE
// IDS_FILE holds whitespace-separated token ids (one sequence); OUT_FILE gets
// the logits [T, vocab_size] as raw little-endian float32, row-major. The
// forward is LlamaModel::Forward (positions 0..T-1, batch of one), in fp32.
// Exit status: 0 ok, 2 bad input (InvalidArgument / NotFound), 1 otherwise.
#include <torch/torch.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/model/llama_model.h"

namespace eqat {
namespace {

absl::StatusOr<std::vector<int64_t>> ReadIds(const std::string& path, int64_t vocab) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::vector<int64_t> ids;
  int64_t id = 0;
  while (in >> id) {
    if (id < 0 || id >= vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": token id ", id, " outside [0, ", vocab, ")"));
    }
    ids.push_back(id);
  }
  if (!in.eof()) return absl::InvalidArgumentError(absl::StrCat(path, ": not a list of integers"));
  if (ids.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no token ids"));
  return ids;
}

absl::Status Run(const std::string& model_dir, const std::string& ids_path,
                 const std::string& out_path) {
  ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model, LlamaModel::Load(model_dir));
  ASSIGN_OR_RETURN(std::vector<int64_t> ids, ReadIds(ids_path, model->config().vocab_size));
  torch::NoGradGuard ng;
  torch::Tensor x = torch::tensor(ids, torch::kLong).unsqueeze(0);
  torch::Tensor logits = model->Forward(x)[0].to(torch::kFloat).contiguous();
  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(logits.data_ptr()),
            static_cast<std::streamsize>(logits.numel() * sizeof(float)));
  out.close();
  if (!out) return absl::InternalError(absl::StrCat(out_path, ": write failed"));
  std::cout << "logits " << logits.size(0) << " x " << logits.size(1) << "\n";
  return absl::OkStatus();
}

}  // namespace
}  // namespace eqat

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: eqat_forward_dump MODEL_DIR IDS_FILE OUT_FILE\n";
    return 2;
  }
  absl::Status st;
  try {
    st = eqat::Run(argv[1], argv[2], argv[3]);
  } catch (const std::exception& e) {
    st = absl::InternalError(e.what());
  }
  if (st.ok()) return 0;
  std::cerr << "eqat_forward_dump: " << st.message() << "\n";
  return absl::IsInvalidArgument(st) || absl::IsNotFound(st) ? 2 : 1;
}
