#include "worker/stage/block_stage.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/job/job_spec.h"
#include "common/status_macros.h"
#include "common/text_data.h"
#include "common/tokenizer.h"
#include "worker/stage/block_files.h"

namespace eqat {
namespace {

absl::StatusOr<torch::Tensor> CalibrationIds(const BlockStageRequest& r, const ModelConfig& cfg) {
  ASSIGN_OR_RETURN(auto tok, Tokenizer::LoadFromDir(r.model_dir));
  ASSIGN_OR_RETURN(auto windows, BlockApWindows(r.calib, *tok, cfg));
  const int64_t rows = static_cast<int64_t>(windows.size());
  std::vector<int64_t> flat;
  flat.reserve(rows * r.calib.seqlen);
  for (const auto& w : windows) flat.insert(flat.end(), w.begin(), w.end());
  return torch::tensor(flat, torch::kLong).view({rows, r.calib.seqlen});
}

void MapStore(ActivationStore* s, int64_t batch, const Block& b, const ModelConfig& cfg) {
  torch::NoGradGuard ng;
  for (int64_t i = 0; i < s->size(); i += batch) {
    int64_t n = std::min(batch, s->size() - i);
    s->Write(i, BlockForward(b, cfg, s->Read(i, n)));
  }
}

}  // namespace

Json BlockReportJson(const BlockReport& r) {
  Json b = {{"block", r.block}, {"output_mse", r.output_mse}};
  if (!std::isnan(r.train_loss)) {
    b["init_val_loss"] = r.init_val_loss;
    b["train_loss"] = r.train_loss;
    b["val_loss"] = r.val_loss;
    b["attempts"] = r.attempts;
  }
  return b;
}

absl::StatusOr<StageActivations> ComputeInputsFromCalibration(const BlockStageRequest& r,
                                                              int upto) {
  ASSIGN_OR_RETURN(auto model, LlamaModel::LoadRange(r.model_dir, 0, upto));
  const ModelConfig& cfg = model->config();
  StageActivations a;
  if (r.options.method == QuantMethod::kRtn && r.calib.path.empty()) return a;
  ASSIGN_OR_RETURN(torch::Tensor ids, CalibrationIds(r, cfg));
  RETURN_IF_ERROR(EmbedCalibration(*model, ids, r.options, &a.fp, &a.q));
  for (int j = 0; j < upto; ++j) {
    MapStore(a.fp.get(), r.options.batch_size, model->block(j), cfg);
    ASSIGN_OR_RETURN(Block packed,
                     ReadBlockFile(BlockFilePath(r.job_dir, j), cfg, j, r.options.spec,
                                   RecordedChecksum(r.block_checksums, j)));
    MapStore(a.q.get(), r.options.batch_size, packed, cfg);
  }
  return a;
}

absl::StatusOr<StageActivations> RunBlockStage(const BlockStageRequest& r, StageActivations in) {
  if (r.first_block < 0 || r.last_block <= r.first_block) {
    return absl::InvalidArgumentError("stage: empty block range");
  }
  // Whatever ran before in this process, the stage starts from the job's seed.
  torch::manual_seed(r.seed);
  int start = std::max(r.first_block, r.resume_from_block);
  if (start > r.first_block || in.fp == nullptr) {
    // Resumed, or no stream: rebuild the inputs of `start` from calibration.
    ASSIGN_OR_RETURN(in, ComputeInputsFromCalibration(r, start));
  }
  if (start >= r.last_block) return in;
  ASSIGN_OR_RETURN(auto model, LlamaModel::LoadRange(r.model_dir, start, r.last_block));
  RETURN_IF_ERROR(CheckQuantizable(*model, r.options.spec));
  if (r.on_fp_outputs && in.fp != nullptr) {
    ASSIGN_OR_RETURN(auto fp_out, ActivationStore::Create(in.fp->size(), in.fp->sample_shape(),
                                                          r.options.cache));
    fp_out->CopyFrom(*in.fp);
    for (int local = 0; local < model->num_blocks(); ++local) {
      MapStore(fp_out.get(), r.options.batch_size, model->block(local), model->config());
    }
    RETURN_IF_ERROR(r.on_fp_outputs(*fp_out));
  }
  BlockwiseOptions o = r.options;
  auto user_packed = r.options.on_block_packed;
  o.on_block_packed = [&](int i, const Block& b) -> absl::Status {
    std::string path = BlockFilePath(r.job_dir, i);
    RETURN_IF_ERROR(CheckStillInRoots("job_dir", r.job_dir, r.allowed_roots));
    ASSIGN_OR_RETURN(uint64_t checksum, WriteBlockFile(path, b, i, r.options.spec));
    if (r.on_block_written) r.on_block_written(i, path, checksum);
    return user_packed ? user_packed(i, b) : absl::OkStatus();
  };
  auto user_done = r.options.on_block_done;
  absl::Status report_status;
  o.on_block_done = [&](const BlockReport& br) {
    if (report_status.ok()) report_status = WriteBlockReport(r.job_dir, BlockReportJson(br));
    if (user_done) user_done(br);
  };
  RETURN_IF_ERROR(QuantizeBlockRange(model.get(), in.fp.get(), in.q.get(), o));
  RETURN_IF_ERROR(report_status);
  return in;
}

}  // namespace eqat
