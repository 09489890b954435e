#include "client/quantize_job.h"

#include <cmath>

#include "absl/strings/str_format.h"
#include "common/progress.h"
#include "common/status_macros.h"
#include "common/text_data.h"

namespace eqat {

absl::StatusOr<QuantizeJobResult> RunQuantizeJob(LlamaModel* model, const QuantizeJob& job) {
  torch::Tensor calib;
  if (!job.calib_tokens.empty()) {
    ASSIGN_OR_RETURN(auto windows,
                     SampleWindows(job.calib_tokens, job.samples, job.seqlen, job.seed));
    std::vector<int64_t> flat;
    flat.reserve(job.samples * job.seqlen);
    for (const auto& w : windows) flat.insert(flat.end(), w.begin(), w.end());
    calib = torch::tensor(flat, torch::kLong).view({job.samples, job.seqlen});
  }
  QuantizeJobResult res;
  res.blocks_json = json::Value::Array();
  ProgressBar bar("quantize", model->num_blocks(), job.progress);
  bar.Update(0, "blocks");
  BlockwiseOptions bo;
  bo.method = job.method;
  bo.spec = job.spec;
  bo.batch_size = job.batch_size;
  bo.on_block_done = [&](const BlockReport& r) {
    json::Value b = json::Value::Object();
    b.Set("block", json::Value::Int(r.block));
    b.Set("seconds", json::Value::Number(r.seconds));
    b.Set("output_mse", json::Value::Number(r.output_mse));
    if (!std::isnan(r.train_loss)) b.Set("train_loss", json::Value::Number(r.train_loss));
    if (!std::isnan(r.val_loss)) b.Set("val_loss", json::Value::Number(r.val_loss));
    res.blocks_json.Push(std::move(b));
    bar.Update(r.block + 1, absl::StrFormat("blocks, mse %.3g", r.output_mse));
  };
  RETURN_IF_ERROR(QuantizeBlockwise(model, calib, bo));
  bar.Finish();
  return res;
}

}  // namespace eqat
