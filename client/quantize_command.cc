#include <torch/torch.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/command_util.h"
#include "client/commands.h"
#include "client/quantize_job.h"
#include "common/progress.h"
#include "common/status_macros.h"
#include "common/text_data.h"
#include "worker/evaluate.h"
#include "worker/model_writer.h"

namespace eqat {
namespace {

absl::Status ValidateQuantizeFlags(const QuantizeOptions& o, QuantMethod* method) {
  RETURN_IF_ERROR(CheckModelDir("--model", o.model));
  if (o.out.empty()) return absl::InvalidArgumentError("--out: is required");
  ASSIGN_OR_RETURN(*method, ParseQuantMethod(o.method));
  absl::Status spec = kernels::ValidateQuantSpec({o.bits, o.group});
  if (!spec.ok()) return absl::InvalidArgumentError(absl::StrCat("--", spec.message()));
  if (*method != QuantMethod::kRtn || !o.calib.empty()) RETURN_IF_ERROR(CheckInputFile("--calib", o.calib));
  if (o.samples < 1) return absl::InvalidArgumentError("--samples: must be >= 1");
  if (o.batch_size < 1) return absl::InvalidArgumentError("--batch: must be >= 1");
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
    if (model->quantized()) {
      return absl::InvalidArgumentError("--model: is already quantized; give a full-precision model");
    }
    // Check the group size against every linear before any work.
    for (int i = 0; i < model->num_blocks(); ++i) {
      for (auto& [name, lin] : model->block(i).Linears()) {
        absl::Status st = kernels::ValidateQuantSpecFor({o.bits, o.group}, lin->in_features(),
                                                        LinearPrefix(i, name));
        if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat("--", st.message()));
      }
    }
    ASSIGN_OR_RETURN(auto tok, LoadModelTokenizer(o.model));
    ASSIGN_OR_RETURN(int64_t seqlen, ResolveSeqlen("--seqlen", o.seqlen, model->config()));

    // Everything the evaluation needs is checked before any work is done.
    std::vector<int32_t> eval_tokens;
    int64_t eval_seqlen = 0;
    if (!o.eval_text.empty()) {
      ASSIGN_OR_RETURN(eval_tokens, LoadTokens(o.eval_text, *tok, model->config().vocab_size));
      ASSIGN_OR_RETURN(eval_seqlen, ResolveSeqlen("--eval-seqlen", o.eval_seqlen, model->config()));
      if (static_cast<int64_t>(eval_tokens.size()) < eval_seqlen) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--eval-text: ", eval_tokens.size(), " tokens hold no window of ", eval_seqlen));
      }
    }

    QuantizeJob job;
    job.method = method;
    job.spec = {o.bits, o.group};
    job.samples = o.samples;
    job.seqlen = seqlen;
    job.seed = o.seed;
    job.batch_size = o.batch_size;
    job.progress = o.progress;
    if (!o.calib.empty()) {
      ASSIGN_OR_RETURN(job.calib_tokens, LoadTokens(o.calib, *tok, model->config().vocab_size));
    }
    ASSIGN_OR_RETURN(QuantizeJobResult res, RunQuantizeJob(model.get(), job));
    double quant_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    json::Value summary = json::Value::Object();
    summary.Set("method", json::Value::String(QuantMethodName(method)));
    summary.Set("bits", json::Value::Int(o.bits));
    summary.Set("group", json::Value::Int(o.group));
    summary.Set("samples", json::Value::Int(job.calib_tokens.empty() ? 0 : o.samples));
    summary.Set("seqlen", json::Value::Int(seqlen));
    summary.Set("seed", json::Value::Int(static_cast<int64_t>(o.seed)));
    summary.Set("source_model", json::Value::String(o.model));
    summary.Set("blocks", res.blocks_json);
    WriteOptions wo;
    wo.zeros = o.zeros == "v1" ? kernels::ZerosFormat::kV1 : kernels::ZerosFormat::kV2;
    wo.overwrite = o.overwrite;
    wo.summary = summary;
    RETURN_IF_ERROR(WriteModelFolder(*model, o.model, o.out, wo));
    out << absl::StrFormat("wrote %s (%s W%dg%d) in %.1fs\n", o.out, QuantMethodName(method),
                           o.bits, o.group, quant_seconds);

    json::Value j = json::Value::Object();
    j.Set("method", json::Value::String(QuantMethodName(method)));
    j.Set("bits", json::Value::Int(o.bits));
    j.Set("group", json::Value::Int(o.group));
    j.Set("out", json::Value::String(o.out));
    j.Set("wall_seconds", json::Value::Number(quant_seconds));
    if (!o.eval_text.empty()) {
      PerplexityOptions po;
      po.seqlen = eval_seqlen;
      po.max_windows = o.eval_max_windows;
      po.batch_size = o.batch_size;
      ASSIGN_OR_RETURN(auto fp_model, LlamaModel::Load(o.model));
      ASSIGN_OR_RETURN(PerplexityResult fp, EvaluatePerplexity(*fp_model, eval_tokens, po));
      fp_model.reset();
      // Evaluate what was written, read back from disk.
      ASSIGN_OR_RETURN(auto q_model, LlamaModel::Load(o.out));
      ASSIGN_OR_RETURN(PerplexityResult q, EvaluatePerplexity(*q_model, eval_tokens, po));
      out << absl::StrFormat("\n%-22s %12s\n%-22s %12.4f\n%-22s %12.4f\n", "model", "perplexity",
                             "full precision", fp.ppl,
                             absl::StrFormat("%s W%dg%d", QuantMethodName(method), o.bits, o.group),
                             q.ppl);
      out << absl::StrFormat("(%d windows of %d tokens of %s)\n", q.windows, eval_seqlen,
                             o.eval_text);
      j.Set("fp_ppl", json::Value::Number(fp.ppl));
      j.Set("ppl", json::Value::Number(q.ppl));
      j.Set("eval_windows", json::Value::Int(q.windows));
      j.Set("eval_seqlen", json::Value::Int(eval_seqlen));
    }
    j.Set("peak_rss_mib", json::Value::Number(PeakRssMiB()));
    if (o.json) out << JsonLine(j) << "\n";
    return absl::OkStatus();
  });
}

}  // namespace eqat
