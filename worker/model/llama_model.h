// The Llama-family decoder (Llama, Mistral, Qwen2, Qwen3) on LibTorch, numerically
// matching Hugging Face transformers: RMSNorm in fp32, rotate-half RoPE
// (with linear / llama3 scaling), Qwen3's per-head q/k RMSNorm before RoPE, grouped-query attention (kv head h/n_rep),
// causal (optionally sliding-window) softmax attention, SwiGLU MLP.
//
// Each linear layer is in one of three modes:
//   kFloat     dense fp32 weight
//   kFakeQuant latent fp32 weight + trainable step size s and zero point z,
//              quantized on the fly with STE (Block-AP training)
//   kPacked    GPTQ-layout packed integers, dequantised on every forward;
//              the step sizes may be trainable fp32 (E2E-QP)
// In every mode a linear may also carry a LoRA adapter (PEFT's layout,
// worker/model/peft_adapter.h): with lora_a [r, in] and lora_b [out, r]
// both defined, Forward(x) = base(x) + lora_scale * (x A^T) B^T, where
// base(x) is the mode's own forward above. Undefined lora_a / lora_b (the
// default) means no LoRA: the forward is exactly the base one.
// Thread-safety: forward passes are const and may run concurrently; mutation
// (training, mode changes) requires exclusive access.
#ifndef EQAT_WORKER_MODEL_LLAMA_MODEL_H_
#define EQAT_WORKER_MODEL_LLAMA_MODEL_H_

#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model_config.h"
#include "common/safetensors.h"
#include "kernels/pack.h"
#include "kernels/packed_linear.h"
#include "kernels/quantizer.h"

namespace eqat {

struct Linear {
  enum class Mode { kFloat, kFakeQuant, kPacked };
  Mode mode = Mode::kFloat;
  torch::Tensor weight;  // fp32 [out, in] (kFloat, kFakeQuant)
  torch::Tensor bias;    // fp32 [out] or undefined (always frozen)
  kernels::QuantSpec spec;
  torch::Tensor scale;   // fp32 [out, G] (kFakeQuant)
  torch::Tensor zero;    // fp32 [out, G] (kFakeQuant)
  kernels::PackedLinear packed;  // kPacked (packed.bias unused: see `bias`)
  // LoRA (optional, any mode): both defined or both undefined.
  torch::Tensor lora_a;   // fp32 [r, in]  (PEFT lora_A.weight)
  torch::Tensor lora_b;   // fp32 [out, r] (PEFT lora_B.weight)
  double lora_scale = 0;  // alpha / r (alpha / sqrt(r) with rsLoRA)

  int64_t out_features() const;
  int64_t in_features() const;
  // The dense weight the forward uses (fake-quantised / dequantised).
  // Without the LoRA term (LoRA is applied on the activations in Forward).
  torch::Tensor EffectiveWeight() const;
  // base(x) (+ lora_scale * (x A^T) B^T when has_lora()).
  torch::Tensor Forward(const torch::Tensor& x) const;
  bool has_lora() const { return lora_a.defined() && lora_b.defined(); }
  int64_t lora_rank() const { return has_lora() ? lora_a.size(0) : 0; }
};

struct Block {
  Linear q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj;
  torch::Tensor input_norm;  // fp32 [hidden]
  torch::Tensor post_norm;   // fp32 [hidden]
  // Qwen3 (config.qk_norm): per-head RMSNorm weights of q and k, fp32
  // [head_dim], trained and stored like the other norms; undefined otherwise.
  torch::Tensor q_norm, k_norm;

  // ("self_attn.q_proj", &q_proj), ... in HF order.
  std::vector<std::pair<std::string, Linear*>> Linears();
  std::vector<std::pair<std::string, const Linear*>> Linears() const;
  Block Clone() const;  // deep copy (detached), LoRA factors included
  Block To(const torch::Device& device) const;  // detached copy on `device`
};

// Inputs seen by the block's linear layers during one forward (for GPTQ
// Hessians): attn_in feeds q/k/v, o_in feeds o_proj, mlp_in feeds gate/up,
// down_in feeds down_proj.
struct BlockTaps {
  torch::Tensor attn_in, o_in, mlp_in, down_in;
};

// Forward of one decoder block on x [B, T, hidden] (positions 0..T-1).
// When `taps` is non-null, the linear inputs are stored there.
torch::Tensor BlockForward(const Block& b, const ModelConfig& c, const torch::Tensor& x,
                           BlockTaps* taps = nullptr);

// cos/sin tables [T, head_dim] for positions 0..T-1 (HF rotate-half layout).
std::pair<torch::Tensor, torch::Tensor> RopeTables(const ModelConfig& c, int64_t T);

torch::Tensor RmsNorm(const torch::Tensor& x, const torch::Tensor& w, double eps);

class LlamaModel {
 public:
  // Loads a Hugging Face folder (config.json + safetensors), full precision
  // or a GPTQ-layout quantized folder (quantization_config in config.json,
  // v1 or v2 zero points). Every tensor is checked for presence, dtype and
  // shape; errors are InvalidArgument / NotFound naming the tensor.
  static absl::StatusOr<std::unique_ptr<LlamaModel>> Load(const std::string& dir);
  // Loads only blocks [first, last) plus embeddings/head (workers).
  static absl::StatusOr<std::unique_ptr<LlamaModel>> LoadRange(const std::string& dir,
                                                               int first, int last);

  const ModelConfig& config() const { return config_; }
  int num_blocks() const { return static_cast<int>(blocks_.size()); }
  Block& block(int i) { return blocks_[i]; }
  const Block& block(int i) const { return blocks_[i]; }
  bool quantized() const { return config_.quantization.present; }

  torch::Tensor Embed(const torch::Tensor& ids) const;      // long [B,T] -> [B,T,H]
  torch::Tensor Head(const torch::Tensor& hidden) const;    // final norm + lm_head
  torch::Tensor Forward(const torch::Tensor& ids) const;    // logits [B,T,V]

  const torch::Tensor& embed_tokens() const { return embed_; }
  const torch::Tensor& final_norm() const { return norm_; }
  const torch::Tensor& lm_head() const { return lm_head_; }  // aliases embed if tied
  ModelConfig& mutable_config() { return config_; }
  // Index of block(0) in the full model (LoadRange's `first`).
  int first_block() const { return first_block_; }
  // Replaces the held blocks (e.g. packed blocks read back from a job's
  // block files) and the index of the first one.
  void SetBlocks(std::vector<Block> blocks, int first_block);

 private:
  ModelConfig config_;
  torch::Tensor embed_, norm_, lm_head_;
  std::vector<Block> blocks_;
  int first_block_ = 0;
};

// Reads block i from `st` (packed when config.quantization.present).
absl::StatusOr<Block> LoadBlock(const SafetensorsModel& st, const ModelConfig& config, int i);

// Names of the HF tensors of block i, e.g. "model.layers.3.mlp.up_proj".
std::string LinearPrefix(int block, const std::string& linear_name);

}  // namespace eqat

#endif  // EQAT_WORKER_MODEL_LLAMA_MODEL_H_
