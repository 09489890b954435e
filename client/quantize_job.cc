#include "client/quantize_job.h"

#include <chrono>
#include <cmath>

#include "absl/strings/str_format.h"
#include "common/progress.h"
#include "common/status_macros.h"
#include "common/text_data.h"

namespace eqat {

absl::StatusOr<torch::Tensor> SampleCalibration(const std::vector<int32_t>& tokens,
                                                int64_t samples, int64_t seqlen, uint64_t seed) {
  ASSIGN_OR_RETURN(auto windows, SampleWindows(tokens, samples, seqlen, seed));
  std::vector<int64_t> flat;
  flat.reserve(samples * seqlen);
  for (const auto& w : windows) flat.insert(flat.end(), w.begin(), w.end());
  return torch::tensor(flat, torch::kLong).view({samples, seqlen});
}

absl::StatusOr<QuantizeJobResult> RunQuantizeJob(LlamaModel* model, const QuantizeJob& job) {
  torch::manual_seed(job.seed);
  torch::Tensor calib;
  if (!job.calib_tokens.empty()) {
    ASSIGN_OR_RETURN(calib, SampleCalibration(job.calib_tokens, job.samples, job.seqlen, job.seed));
  }
  QuantizeJobResult res;
  res.blocks_json = Json::array();
  const int nb = model->num_blocks();
  const char* label = job.method == QuantMethod::kEfficientQat ? "block-ap" : "quantize";
  ProgressBar bar(label, nb, job.progress);
  bar.Update(0, "");
  BlockwiseOptions bo;
  bo.method = job.method;
  bo.spec = job.spec;
  bo.batch_size = job.batch_size;
  bo.block_ap = job.block_ap;
  bo.block_ap.seed = job.seed;
  bo.cache = job.cache;
  bo.on_step = [&](int block, int64_t step, int64_t total, double loss) {
    bar.SetTotal(static_cast<int64_t>(nb) * total);
    bar.Update(block * total + step,
               absl::StrFormat("block %d/%d step %d/%d loss %.3g", block + 1, nb, step, total, loss));
  };
  bo.on_block_done = [&](const BlockReport& r) {
    Json b = {{"block", r.block}, {"seconds", r.seconds}, {"output_mse", r.output_mse}};
    if (!std::isnan(r.train_loss)) {
      b["init_val_loss"] = r.init_val_loss;
      b["train_loss"] = r.train_loss;
      b["val_loss"] = r.val_loss;
      b["attempts"] = r.attempts;
    }
    res.blocks_json.push_back(std::move(b));
    if (job.method != QuantMethod::kEfficientQat) {
      bar.Update(r.block + 1, absl::StrFormat("blocks, mse %.3g", r.output_mse));
    }
  };
  auto t0 = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(QuantizeBlockwise(model, calib, bo));
  bar.Finish();
  res.block_stage_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  if (job.method != QuantMethod::kEfficientQat || job.e2e_data.empty()) return res;
  if (job.after_block_ap) RETURN_IF_ERROR(job.after_block_ap(*model));
  ProgressBar e2e_bar("e2e-qp", 1, job.progress);
  E2eOptions eo = job.e2e;
  eo.seed = job.seed;
  eo.on_step = [&](int64_t step, int64_t total, double loss) {
    e2e_bar.SetTotal(total);
    e2e_bar.Update(step, absl::StrFormat("steps loss %.4f", loss));
  };
  auto t1 = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(E2eResult er, TrainE2eQp(model, job.e2e_data, eo));
  e2e_bar.Finish();
  res.e2e_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  res.e2e_json = {{"steps", er.steps},
                  {"first_loss", er.first_loss},
                  {"last_loss", er.last_loss},
                  {"seconds", res.e2e_seconds}};
  return res;
}

}  // namespace eqat
