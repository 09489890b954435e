// Writes a model folder in the Hugging Face layout: config.json (with
// quantization_config for quantized models), model.safetensors, tokenizer
// files copied from the source folder, and an optional eqat.json summary.
// Quantized linears are written as qweight/qzeros/scales(fp16)/g_idx (+bias),
// zero points v2 (as is) or v1 (zero-1, checkpoint_format "gptq").
//
// Atomicity: everything is written into a sibling temp folder which is
// renamed onto `out_dir` only when complete; on any error the temp folder is
// removed and `out_dir` is untouched.
// Thread-safety: reads the model only.
#ifndef EQAT_WORKER_MODEL_MODEL_WRITER_H_
#define EQAT_WORKER_MODEL_MODEL_WRITER_H_

#include <string>

#include "absl/status/status.h"
#include "common/json.h"
#include "common/output_dir.h"
#include "kernels/packed_linear.h"
#include "worker/model/llama_model.h"

namespace eqat {

struct WriteOptions {
  kernels::ZerosFormat zeros = kernels::ZerosFormat::kV2;
  bool overwrite = false;   // replace a non-empty out_dir
  Json summary;             // written as eqat.json when not null
};

// CheckOutputDir / CheckOutputNotSource: common/output_dir.h.
absl::Status WriteModelFolder(const LlamaModel& model, const std::string& source_dir,
                              const std::string& out_dir, const WriteOptions& options);

}  // namespace eqat

#endif  // EQAT_WORKER_MODEL_MODEL_WRITER_H_
