#include "worker/stage/stage_requests.h"

#include "common/job/job_spec.h"

namespace eqat {
namespace {

QuantMethod MethodOf(const v1::JobSpec& s) {
  absl::StatusOr<QuantMethod> m = ParseQuantMethod(s.method());
  return m.ok() ? *m : QuantMethod::kEfficientQat;  // validated specs always parse
}

}  // namespace

CalibrationSource CalibrationSourceFor(const v1::JobSpec& s) {
  CalibrationSource c;
  c.path = s.calib_path();
  c.samples = s.samples();
  c.val_samples = s.val_samples();
  c.seqlen = s.seqlen();
  c.random_windows = s.calib_windows() == "random";
  c.seed = s.seed();
  // (A calibration file is never an instruction file: it must have "text".)
  if (RunsE2e(s) && !s.e2e_data().empty() && s.e2e_data() == s.calib_path()) {
    c.e2e_samples = s.e2e_samples();
    c.e2e_seqlen = s.e2e_seqlen();
  }
  return c;
}

BlockStageRequest BlockStageRequestFor(const v1::JobSpec& s, const StageRange& range,
                                       const StageResources& res) {
  BlockStageRequest r;
  r.model_dir = s.model_dir();
  r.job_dir = range.job_dir;
  r.first_block = range.first_block;
  r.last_block = range.last_block;
  r.resume_from_block = range.resume_from_block;
  r.calib = CalibrationSourceFor(s);
  r.seed = s.seed();
  BlockwiseOptions& bo = r.options;
  bo.method = MethodOf(s);
  bo.spec = {s.bits(), s.group_size()};
  bo.batch_size = s.batch();
  bo.cache = res.cache;
  bo.anneal_fraction = s.anneal_fraction();
  bo.rank = s.rank();
  bo.alpha = s.alpha();
  bo.lrqat_checkpointing = s.lrqat_checkpointing();
  bo.block_ap.epochs = s.epochs();
  bo.block_ap.batch_size = s.ap_batch();
  bo.block_ap.quant_lr = s.quant_lr();
  bo.block_ap.weight_lr = s.weight_lr();
  bo.block_ap.seed = s.seed();
  bo.block_ap.device = res.device;
  bo.block_ap.precision = res.device.is_cuda() ? ParseTrainPrecision(s.precision())
                                               : TrainPrecision::kFp32;
  bo.block_ap.val_count = s.val_samples();
  bo.block_ap.shuffle_each_epoch = s.ap_shuffle();
  return r;
}

FinalizeRequest FinalizeRequestFor(const v1::JobSpec& s, const std::string& job_dir,
                                   const StageResources& res) {
  FinalizeRequest r;
  r.model_dir = s.model_dir();
  r.job_dir = job_dir;
  r.output_dir = s.output_dir();
  r.spec = {s.bits(), s.group_size()};
  r.method = MethodOf(s);
  r.e2e = !s.skip_e2e();
  r.e2e_lora = s.e2e_lora();
  r.e2e_data = s.e2e_data();
  r.e2e_samples = s.e2e_samples();
  r.e2e_seqlen = s.e2e_seqlen();
  r.seed = s.seed();
  r.e2e_options.epochs = s.e2e_epochs();
  r.e2e_options.lr = s.e2e_lr();
  r.e2e_options.batch_size = s.e2e_batch();
  r.e2e_options.grad_accum = s.e2e_accum();
  r.e2e_options.checkpointing = s.e2e_checkpointing();
  r.e2e_options.device = res.device;
  r.e2e_options.precision = res.device.is_cuda() ? ParseTrainPrecision(s.precision())
                                                 : TrainPrecision::kFp32;
  r.calib = CalibrationSourceFor(s);
  r.eval_text = s.eval_text();
  r.eval_seqlen = s.eval_seqlen();
  r.eval_max_windows = s.eval_max_windows();
  r.batch_size = s.batch();
  r.zeros = s.zeros() == "v1" ? kernels::ZerosFormat::kV1 : kernels::ZerosFormat::kV2;
  // CheckSpecComplete refused unknown names; empty is a spec from before
  // the field existed, which meant gptq.
  absl::StatusOr<OutputFormat> format = ParseOutputFormat(s.format(), "spec.format");
  r.format = format.ok() ? *format : OutputFormat::kGptq;
  r.overwrite = s.overwrite();
  r.summary = {{"method", s.method()},
               {"source_model", s.model_dir()},
               {"bits", s.bits()},
               {"group", s.group_size()},
               {"samples", s.calib_path().empty() ? int64_t{0} : s.samples()},
               {"seqlen", s.seqlen()},
               {"seed", s.seed()},
               {"epochs", s.epochs()},
               {"schedule", s.schedule() == v1::PIPELINED ? "pipelined" : "sequential"}};
  if (!s.calib_path().empty()) {
    r.summary["val_samples"] = s.val_samples();
    r.summary["calib_windows"] = s.calib_windows();
  }
  if (s.rank() > 0) {
    r.summary["rank"] = s.rank();
    r.summary["alpha"] = s.alpha();
  }
  return r;
}

std::string JobWorkDir(const v1::JobSpec& spec) { return spec.output_dir() + ".eqat-work"; }

}  // namespace eqat
