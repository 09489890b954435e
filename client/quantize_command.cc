#include <torch/torch.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/command_util.h"
#include "client/commands.h"
#include "client/quantize_job.h"
#include "common/file_util.h"
#include "common/json.h"
#include "common/progress.h"
#include "common/status_macros.h"
#include "common/text_data.h"
#include "worker/evaluate.h"
#include "worker/model_writer.h"
#include "worker/train_data.h"

namespace eqat {
namespace {

absl::Status Positive(const char* flag, int64_t v) {
  if (v < 1) return absl::InvalidArgumentError(absl::StrCat(flag, ": must be >= 1"));
  return absl::OkStatus();
}

absl::Status NonNegative(const char* flag, double v) {
  if (!(v >= 0) || !std::isfinite(v)) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": must be a finite number >= 0"));
  }
  return absl::OkStatus();
}

// Every flag is checked before any work starts.
absl::Status ValidateQuantizeFlags(const QuantizeOptions& o, QuantMethod* method) {
  RETURN_IF_ERROR(CheckModelDir("--model", o.model));
  if (o.out.empty()) return absl::InvalidArgumentError("--out: is required");
  absl::StatusOr<QuantMethod> m = ParseQuantMethod(o.method);
  if (!m.ok()) return absl::InvalidArgumentError(absl::StrCat("--", m.status().message()));
  *method = *m;
  absl::Status spec = kernels::ValidateQuantSpec({o.bits, o.group});
  if (!spec.ok()) return absl::InvalidArgumentError(absl::StrCat("--", spec.message()));
  if (*method != QuantMethod::kRtn || !o.calib.empty()) {
    RETURN_IF_ERROR(CheckInputFile("--calib", o.calib));
  }
  RETURN_IF_ERROR(Positive("--samples", o.samples));
  RETURN_IF_ERROR(Positive("--batch", o.batch_size));
  RETURN_IF_ERROR(Positive("--epochs", o.epochs));
  RETURN_IF_ERROR(Positive("--ap-batch", o.ap_batch));
  RETURN_IF_ERROR(NonNegative("--quant-lr", o.quant_lr));
  RETURN_IF_ERROR(NonNegative("--weight-lr", o.weight_lr));
  RETURN_IF_ERROR(NonNegative("--e2e-lr", o.e2e_lr));
  RETURN_IF_ERROR(Positive("--e2e-epochs", o.e2e_epochs));
  RETURN_IF_ERROR(Positive("--e2e-batch", o.e2e_batch));
  RETURN_IF_ERROR(Positive("--e2e-accum", o.e2e_accum));
  if (o.e2e_samples < 0) return absl::InvalidArgumentError("--e2e-samples: must be >= 0");
  if (o.e2e_seqlen < 0) return absl::InvalidArgumentError("--e2e-seqlen: must be >= 0");
  RETURN_IF_ERROR(ParseByteSize("--cache-budget", o.cache_budget).status());
  if (!IsDirectory(o.spill_dir)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--spill-dir: '", o.spill_dir, "' is not a directory"));
  }
  RETURN_IF_ERROR(ParseDevice("--device", o.device).status());
  if (!o.e2e_data.empty()) RETURN_IF_ERROR(CheckInputFile("--e2e-data", o.e2e_data));
  if (o.zeros != "v2" && o.zeros != "v1") {
    return absl::InvalidArgumentError(absl::StrCat("--zeros: '", o.zeros, "' is not v2 or v1"));
  }
  if (!o.eval_text.empty()) RETURN_IF_ERROR(CheckInputFile("--eval-text", o.eval_text));
  if (o.eval_seqlen < 0) return absl::InvalidArgumentError("--eval-seqlen: must be >= 0");
  if (o.eval_max_windows < 0) {
    return absl::InvalidArgumentError("--eval-max-windows: must be >= 0");
  }
  absl::Status out = CheckOutputDir(o.out, o.overwrite);
  if (out.ok()) out = CheckOutputNotSource(o.out, o.model);
  if (!out.ok()) return absl::Status(out.code(), absl::StrCat("--", out.message()));
  return absl::OkStatus();
}

}  // namespace

absl::Status RunQuantize(const QuantizeOptions& o, std::ostream& out) {
  QuantMethod method;
  RETURN_IF_ERROR(ValidateQuantizeFlags(o, &method));
  return GuardTorch([&]() -> absl::Status {
    auto t0 = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(auto model, LlamaModel::Load(o.model));
    const ModelConfig& cfg = model->config();
    if (model->quantized()) {
      return absl::InvalidArgumentError("--model: is already quantized; give a full-precision model");
    }
    for (int i = 0; i < model->num_blocks(); ++i) {
      for (auto& [name, lin] : model->block(i).Linears()) {
        absl::Status st = kernels::ValidateQuantSpecFor({o.bits, o.group}, lin->in_features(),
                                                        LinearPrefix(i, name));
        if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat("--", st.message()));
      }
    }
    ASSIGN_OR_RETURN(auto tok, LoadModelTokenizer(o.model));
    ASSIGN_OR_RETURN(int64_t seqlen, ResolveSeqlen("--seqlen", o.seqlen, cfg));
    ASSIGN_OR_RETURN(torch::Device device, ParseDevice("--device", o.device));

    std::vector<int32_t> eval_tokens;
    int64_t eval_seqlen = 0;
    if (!o.eval_text.empty()) {
      ASSIGN_OR_RETURN(eval_tokens, LoadTokens(o.eval_text, *tok, cfg.vocab_size));
      ASSIGN_OR_RETURN(eval_seqlen, ResolveSeqlen("--eval-seqlen", o.eval_seqlen, cfg));
      if (static_cast<int64_t>(eval_tokens.size()) < eval_seqlen) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--eval-text: ", eval_tokens.size(), " tokens hold no window of ", eval_seqlen));
      }
    }
    PerplexityOptions po;
    po.seqlen = eval_seqlen;
    po.max_windows = o.eval_max_windows;
    po.batch_size = o.batch_size;

    QuantizeJob job;
    job.method = method;
    job.spec = {o.bits, o.group};
    job.samples = o.samples;
    job.seqlen = seqlen;
    job.seed = o.seed;
    job.batch_size = o.batch_size;
    job.progress = o.progress;
    job.block_ap.epochs = o.epochs;
    job.block_ap.batch_size = o.ap_batch;
    job.block_ap.quant_lr = o.quant_lr;
    job.block_ap.weight_lr = o.weight_lr;
    job.block_ap.device = device;
    job.block_ap.autocast = device.is_cuda();
    ASSIGN_OR_RETURN(job.cache.ram_budget_bytes, ParseByteSize("--cache-budget", o.cache_budget));
    job.cache.spill_dir = o.spill_dir;
    if (!o.calib.empty()) {
      ASSIGN_OR_RETURN(job.calib_tokens, LoadTokens(o.calib, *tok, cfg.vocab_size));
    }
    std::string e2e_kind;
    if (method == QuantMethod::kEfficientQat && o.e2e) {
      ASSIGN_OR_RETURN(int64_t e2e_seqlen,
                       ResolveSeqlen("--e2e-seqlen", o.e2e_seqlen > 0 ? o.e2e_seqlen : seqlen, cfg));
      // A different seed from calibration so E2E-QP sees other windows.
      ASSIGN_OR_RETURN(job.e2e_data,
                       LoadE2eExamples(o.e2e_data.empty() ? o.calib : o.e2e_data, *tok, cfg,
                                       o.e2e_samples > 0 ? o.e2e_samples : o.samples, e2e_seqlen,
                                       o.seed + 0x5eed, &e2e_kind));
      job.e2e.epochs = o.e2e_epochs;
      job.e2e.lr = o.e2e_lr;
      job.e2e.batch_size = o.e2e_batch;
      job.e2e.grad_accum = o.e2e_accum;
      job.e2e.checkpointing = o.e2e_checkpointing;
      job.e2e.device = device;
      job.e2e.autocast = device.is_cuda();
    }
    double block_ap_ppl = std::nan("");
    if (!eval_tokens.empty() && !job.e2e_data.empty()) {
      job.after_block_ap = [&](const LlamaModel& m) -> absl::Status {
        ASSIGN_OR_RETURN(PerplexityResult r, EvaluatePerplexity(m, eval_tokens, po));
        block_ap_ppl = r.ppl;
        return absl::OkStatus();
      };
    }
    ASSIGN_OR_RETURN(QuantizeJobResult res, RunQuantizeJob(model.get(), job));
    double quant_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    std::string label = absl::StrFormat("%s W%dg%d", QuantMethodName(method), o.bits, o.group);
    Json summary = {{"method", QuantMethodName(method)},
                    {"bits", o.bits},
                    {"group", o.group},
                    {"samples", job.calib_tokens.empty() ? 0 : o.samples},
                    {"seqlen", seqlen},
                    {"seed", static_cast<int64_t>(o.seed)},
                    {"source_model", o.model},
                    {"blocks", res.blocks_json}};
    if (!res.e2e_json.is_null()) {
      Json e = res.e2e_json;
      e["data"] = e2e_kind;
      e["examples"] = job.e2e_data.size();
      summary["e2e"] = std::move(e);
    }
    WriteOptions wo;
    wo.zeros = o.zeros == "v1" ? kernels::ZerosFormat::kV1 : kernels::ZerosFormat::kV2;
    wo.overwrite = o.overwrite;
    wo.summary = summary;
    RETURN_IF_ERROR(WriteModelFolder(*model, o.model, o.out, wo));
    out << absl::StrFormat("wrote %s (%s) in %.1fs: block stage %.1fs", o.out, label,
                           quant_seconds, res.block_stage_seconds);
    if (!res.e2e_json.is_null()) out << absl::StrFormat(", e2e-qp %.1fs", res.e2e_seconds);
    out << "\n";

    Json j = {{"method", QuantMethodName(method)},
              {"bits", o.bits},
              {"group", o.group},
              {"out", o.out},
              {"wall_seconds", quant_seconds},
              {"block_stage_seconds", res.block_stage_seconds}};
    if (!res.e2e_json.is_null()) j["e2e_seconds"] = res.e2e_seconds;
    if (!eval_tokens.empty()) {
      ASSIGN_OR_RETURN(auto fp_model, LlamaModel::Load(o.model));
      ASSIGN_OR_RETURN(PerplexityResult fp, EvaluatePerplexity(*fp_model, eval_tokens, po));
      fp_model.reset();
      // Evaluate what was written, read back from disk.
      ASSIGN_OR_RETURN(auto q_model, LlamaModel::Load(o.out));
      ASSIGN_OR_RETURN(PerplexityResult q, EvaluatePerplexity(*q_model, eval_tokens, po));
      out << absl::StrFormat("\n%-28s %12s\n%-28s %12.4f\n", "model", "perplexity",
                             "full precision", fp.ppl);
      if (!std::isnan(block_ap_ppl)) {
        out << absl::StrFormat("%-28s %12.4f\n", label + " (Block-AP)", block_ap_ppl);
        out << absl::StrFormat("%-28s %12.4f\n", label + " (+E2E-QP)", q.ppl);
        j["block_ap_ppl"] = block_ap_ppl;
      } else {
        out << absl::StrFormat("%-28s %12.4f\n", label, q.ppl);
      }
      out << absl::StrFormat("(%d windows of %d tokens of %s)\n", q.windows, eval_seqlen,
                             o.eval_text);
      j["fp_ppl"] = fp.ppl;
      j["ppl"] = q.ppl;
      j["eval_windows"] = q.windows;
      j["eval_seqlen"] = eval_seqlen;
    }
    j["peak_rss_mib"] = PeakRssMiB();
    if (o.json) out << DumpJson(j) << "\n";
    return absl::OkStatus();
  });
}

}  // namespace eqat
