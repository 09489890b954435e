// Writes a model folder in the Hugging Face layout: config.json (with
// quantization_config for quantized models), model.safetensors, tokenizer
// files copied from the source folder, and an optional eqat.json summary.
// Quantized linears are written in one of three formats:
//  - gptq: qweight/qzeros/scales(fp16)/g_idx, zero points v2 (as is,
//    checkpoint_format "gptq_v2") or v1 (zero-1, "gptq"; groups with zero
//    point 0 are re-fitted first, kernels/v1_zero_refit.h), plus
//    quantize_config.json for AutoGPTQ and GPTQModel;
//  - awq: AutoAWQ gemm (kernels/awq_layout.h), 4-bit only;
//  - compressed-tensors: pack-quantized (kernels/compressed_tensors_layout.h),
//    weight_scale in float32 (the fp16 step sizes exactly; compressed-tensors
//    dequantizes in the scale's dtype, so bf16 would round the products too).
// Embeddings, norms, lm_head, biases and unquantized linears are written in
// the checkpoint's dtype (config.json torch_dtype: bf16, fp16 or fp32).
// quantization_config.meta.quantizer is ["eqat:<version>"]. eqat.json gets
// an "export" entry: the format and the v1 re-fit counts.
//
// Atomicity: everything is written into a sibling temp folder which is
// renamed onto `out_dir` only when complete; on any error the temp folder is
// removed and `out_dir` is untouched.
// Idempotent commit: with a commit marker (a file outside `out_dir`, e.g.
// in the job's work folder), the commit id is written there before
// `out_dir` is replaced. When the marker already holds the same id, an
// existing `out_dir` is this job's own earlier commit (a finalize retried
// after a crash or a lost message) and is replaced even without
// `overwrite`; a rename that loses a race to it counts as done. The output
// folder itself is the same with or without a marker.
// Thread-safety: reads the model only.
#ifndef EQAT_WORKER_MODEL_MODEL_WRITER_H_
#define EQAT_WORKER_MODEL_MODEL_WRITER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/json.h"
#include "common/output_dir.h"
#include "common/output_format.h"
#include "kernels/packed_linear.h"
#include "worker/model/llama_model.h"

namespace eqat {

struct WriteOptions {
  OutputFormat format = OutputFormat::kGptq;
  kernels::ZerosFormat zeros = kernels::ZerosFormat::kV2;  // gptq only
  bool overwrite = false;   // replace a non-empty out_dir
  Json summary;             // written as eqat.json when not null
  // See "Idempotent commit" above; both empty: no marker (local runs).
  std::string commit_marker;
  std::string commit_id;    // the job whose output this is (the cluster's job id)
};

// True when the file `marker` holds exactly `commit_id` (both non-empty).
bool HoldsCommit(const std::string& marker, const std::string& commit_id);

// CheckOutputDir / CheckOutputNotSource: common/output_dir.h.
absl::Status WriteModelFolder(const LlamaModel& model, const std::string& source_dir,
                              const std::string& out_dir, const WriteOptions& options);

}  // namespace eqat

#endif  // EQAT_WORKER_MODEL_MODEL_WRITER_H_
