#include "worker/stage/finalize_stage.h"

#include <chrono>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/folder_checksums.h"
#include "common/job/job_spec.h"
#include "common/status_macros.h"
#include "common/text_data.h"
#include "common/tokenizer.h"
#include "worker/stage/block_files.h"
#include "worker/model/evaluate.h"
#include "worker/model/model_writer.h"
#include "worker/model/peft_adapter.h"
#include "worker/methods/train_data.h"

namespace eqat {

absl::StatusOr<FinalizeResult> RunFinalize(const FinalizeRequest& r) {
  auto stage = [&](const char* s) {
    if (r.on_stage) r.on_stage(s);
  };
  ASSIGN_OR_RETURN(auto model, LlamaModel::LoadRange(r.model_dir, 0, 0));
  const int n = static_cast<int>(model->config().num_hidden_layers);
  std::vector<Block> blocks;
  for (int i = 0; i < n; ++i) {
    ASSIGN_OR_RETURN(Block b, ReadBlockFile(BlockFilePath(r.job_dir, i), model->config(), i,
                                            r.spec, RecordedChecksum(r.block_checksums, i)));
    blocks.push_back(std::move(b));
  }
  model->SetBlocks(std::move(blocks), 0);
  SetQuantizedConfig(model.get(), r.spec);
  const ModelConfig& cfg = model->config();
  const bool lora = r.method == QuantMethod::kApiq;
  const bool run_e2e = ((r.method == QuantMethod::kEfficientQat && r.e2e) || (lora && r.e2e_lora)) &&
                       !r.e2e_data.empty();
  // Only a finalize that reads text needs the tokenizer (a large
  // tokenizer.json takes about a second to load).
  std::unique_ptr<Tokenizer> tok;
  if (run_e2e || !r.eval_text.empty()) {
    ASSIGN_OR_RETURN(tok, Tokenizer::LoadFromDir(r.model_dir));
  }

  torch::manual_seed(r.seed);
  FinalizeResult res;
  std::vector<int32_t> eval_tokens;
  PerplexityOptions po;
  po.seqlen = r.eval_seqlen;
  po.max_windows = r.eval_max_windows;
  po.batch_size = r.batch_size;
  if (!r.eval_text.empty()) {
    ASSIGN_OR_RETURN(eval_tokens, LoadTokens(r.eval_text, *tok, cfg.vocab_size));
  }
  Json summary = r.summary.is_null() ? Json::object() : r.summary;
  Json reports = Json::array();
  for (int i = 0; i < n; ++i) {
    ASSIGN_OR_RETURN(Json rep, ReadBlockReport(r.job_dir, i));
    if (!rep.is_null()) reports.push_back(std::move(rep));
  }
  if (!reports.empty()) summary["blocks"] = std::move(reports);
  if (run_e2e) {
    if (!eval_tokens.empty()) {
      stage("eval");
      ASSIGN_OR_RETURN(PerplexityResult bap, EvaluatePerplexity(*model, eval_tokens, po));
      res.block_ap_ppl = bap.ppl;
    }
    stage(lora ? "e2e-lora" : "e2e-qp");
    std::string kind;
    std::vector<TrainExample> data;
    if (r.calib.e2e_samples > 0 && r.e2e_data == r.calib.path) {
      // The calibration text's E2E region, disjoint from every Block-AP window.
      kind = "calibration text outside the Block-AP windows";
      ASSIGN_OR_RETURN(data, SharedE2eWindows(r.calib, *tok, cfg));
    } else {
      ASSIGN_OR_RETURN(data, LoadE2eExamples(r.e2e_data, *tok, cfg, r.e2e_samples, r.e2e_seqlen,
                                             r.seed + 0x5eed, &kind));
    }
    E2eOptions eo = r.e2e_options;
    eo.seed = r.seed;
    eo.train_lora = lora;
    auto t0 = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(E2eResult er, TrainE2eQp(model.get(), data, eo));
    res.e2e_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    res.e2e_steps = er.steps;
    summary[lora ? "e2e_lora" : "e2e"] = {{"steps", er.steps},
                      {"skipped_steps", er.skipped_steps},
                      {"first_loss", er.first_loss},
                      {"last_loss", er.last_loss},
                      {"data", kind},
                      {"examples", static_cast<int64_t>(data.size())}};
  }
  stage("write");
  WriteOptions wo;
  wo.format = r.format;
  wo.zeros = r.zeros;
  wo.overwrite = r.overwrite;
  wo.summary = summary;
  if (!r.commit_id.empty()) {
    wo.commit_marker = JoinPath(r.job_dir, "commit");
    wo.commit_id = r.commit_id;
  }
  RETURN_IF_ERROR(CheckStillInRoots("spec.output_dir", r.output_dir, r.allowed_roots));
  RETURN_IF_ERROR(WriteModelFolder(*model, r.model_dir, r.output_dir, wo));
  const std::string adapter_dir = JoinPath(r.output_dir, kAdapterSubdir);
  if (lora) {
    // ApiQ's LoRA factors, in PEFT's layout, beside the packed base.
    PeftAdapterInfo info;
    info.base_model_name_or_path = r.output_dir;
    RETURN_IF_ERROR(WritePeftAdapter(*model, adapter_dir, info));
  }
  ASSIGN_OR_RETURN(res.output_checksums, FolderChecksums(r.output_dir));
  model.reset();
  if (!eval_tokens.empty()) {
    stage("eval");
    ASSIGN_OR_RETURN(auto fp, LlamaModel::Load(r.model_dir));
    ASSIGN_OR_RETURN(PerplexityResult fr, EvaluatePerplexity(*fp, eval_tokens, po));
    fp.reset();
    ASSIGN_OR_RETURN(auto q, LlamaModel::Load(r.output_dir));
    if (lora) RETURN_IF_ERROR(LoadPeftAdapter(adapter_dir, q.get()));
    ASSIGN_OR_RETURN(PerplexityResult qr, EvaluatePerplexity(*q, eval_tokens, po));
    res.fp_ppl = fr.ppl;
    res.ppl = qr.ppl;
    res.eval_windows = qr.windows;
    res.evaluated = true;
  }
  return res;
}

}  // namespace eqat
