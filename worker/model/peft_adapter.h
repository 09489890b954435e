// LoRA adapters in Hugging Face PEFT's folder layout, for the LoRA factors
// carried by the model's linears (Linear::lora_a / lora_b / lora_scale,
// worker/model/llama_model.h), e.g. after ApiQ or LoRA fine-tuning.
//
// The folder (what PEFT's `save_pretrained` writes for a LlamaForCausalLM and
// `PeftModel.from_pretrained` reads):
//   adapter_config.json        peft_type "LORA", task_type "CAUSAL_LM", r,
//                              lora_alpha, lora_dropout 0.0, target_modules
//                              (sorted short names, "q_proj", ...), bias "none",
//                              fan_in_fan_out false, inference_mode true,
//                              use_rslora false, use_dora false,
//                              modules_to_save null, base_model_name_or_path,
//                              layers_to_transform (null, or the block indices
//                              when the model holds only some blocks)
//   adapter_model.safetensors  base_model.model.model.layers.{i}.{self_attn.q_proj|
//                              ...|mlp.down_proj}.lora_A.weight [r, in] and
//                              .lora_B.weight [out, r], in F32 by default (the
//                              dtype PEFT saves an fp32 adapter in).
//
// Thread-safety: WritePeftAdapter only reads the model; LoadPeftAdapter
// mutates it and needs exclusive access. Neither throws.
#ifndef EQAT_WORKER_MODEL_PEFT_ADAPTER_H_
#define EQAT_WORKER_MODEL_PEFT_ADAPTER_H_

#include <string>

#include "absl/status/status.h"
#include "common/safetensors.h"
#include "worker/model/llama_model.h"

namespace eqat {

inline constexpr char kPeftConfigFile[] = "adapter_config.json";
inline constexpr char kPeftWeightsFile[] = "adapter_model.safetensors";

struct PeftAdapterInfo {
  // lora_alpha written to adapter_config.json; 0: lora_scale * r (so that
  // alpha / r reproduces the model's lora_scale).
  double lora_alpha = 0;
  std::string base_model_name_or_path;  // written as given (may be empty)
  DType dtype = DType::kF32;            // F32, F16 or BF16
};

// "base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight" for
// (3, "self_attn.q_proj", "A").
std::string PeftTensorName(int block, const std::string& linear_name, const std::string& ab);

// Writes the LoRA factors of every linear with has_lora() into `dir`
// (created if missing; a missing `dir` is built in a sibling temp folder and
// renamed into place, an existing one gets each file atomically, weights
// first). Block i of the model is layer model.first_block() + i.
// REQUIRES: at least one linear has LoRA; all have the same rank r and
// lora_scale; a linear name (q_proj, ...) with LoRA in one block has it in
// every block. Otherwise FailedPrecondition naming the linear. Also
// InvalidArgument for a bad info.dtype / lora_alpha, and the file errors of
// WriteFileAtomic / WriteSafetensors.
absl::Status WritePeftAdapter(const LlamaModel& model, const std::string& dir,
                              const PeftAdapterInfo& info);

// Reads `dir`'s adapter onto `model` (fp or packed, full or LoadRange):
// sets lora_a / lora_b (fp32, on the device of each linear's weights) and
// lora_scale = lora_alpha / r (lora_alpha / sqrt(r) when use_rslora) of
// every targeted linear of every held block; other linears are left
// without LoRA. Tensors of layers outside the held range are skipped.
// Errors (the model is untouched on any of them):
//   NotFound       a missing adapter_config.json / adapter_model.safetensors
//                  (naming the file)
//   InvalidArgument naming the file and field or tensor: peft_type not
//                  "LORA"; r not a positive integer; lora_alpha not a positive
//                  number; target_modules not a list of known names (or
//                  "all-linear"); bias other than "none"; fan_in_fan_out,
//                  use_dora, or a non-empty rank_pattern / alpha_pattern /
//                  modules_to_save (not supported); a tensor of dtype other
//                  than F32/F16/BF16 or whose shape is not [r, in] / [out, r];
//                  every missing and every unknown tensor, by name.
// Unknown extra keys in adapter_config.json are ignored.
absl::Status LoadPeftAdapter(const std::string& dir, LlamaModel* model);

}  // namespace eqat

#endif  // EQAT_WORKER_MODEL_PEFT_ADAPTER_H_
