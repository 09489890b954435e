// Benchmark fixtures: a transformer block of a given Llama shape with random
// weights, and in-memory activation stores. For timing and memory only: a
// random block's quality means nothing.
// Thread-safety: RandomBlock seeds LibTorch's global generator.
#ifndef EQAT_BENCH_RANDOM_BLOCK_H_
#define EQAT_BENCH_RANDOM_BLOCK_H_

#include <torch/torch.h>

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "common/model_config.h"
#include "worker/methods/activation_store.h"
#include "worker/model/llama_model.h"

namespace eqat::bench {

// A one-block Llama config (head_dim 0: hidden / heads; kv_heads 0: heads).
inline ModelConfig BlockShape(int64_t hidden, int64_t intermediate, int64_t heads,
                              int64_t kv_heads = 0, int64_t head_dim = 0) {
  ModelConfig c;
  c.model_type = "llama";
  c.hidden_size = hidden;
  c.intermediate_size = intermediate;
  c.num_hidden_layers = 1;
  c.num_attention_heads = heads;
  c.num_key_value_heads = kv_heads > 0 ? kv_heads : heads;
  c.head_dim = head_dim > 0 ? head_dim : hidden / heads;
  c.max_position_embeddings = 4096;
  c.rms_norm_eps = 1e-5;
  return c;
}

// Llama-2-7B's block: hidden 4096, intermediate 11008, 32 heads (MHA).
inline ModelConfig Llama2Block7b() { return BlockShape(4096, 11008, 32); }

// A block of `c`'s shape with N(0, 0.02) linear weights and unit norms.
inline Block RandomBlock(const ModelConfig& c, uint64_t seed) {
  torch::manual_seed(seed);
  auto linear = [](int64_t out, int64_t in) {
    Linear l;
    l.weight = torch::randn({out, in}) * 0.02;
    return l;
  };
  const int64_t h = c.hidden_size, q = c.num_attention_heads * c.head_dim,
                kv = c.num_key_value_heads * c.head_dim, f = c.intermediate_size;
  Block b;
  b.q_proj = linear(q, h);
  b.k_proj = linear(kv, h);
  b.v_proj = linear(kv, h);
  b.o_proj = linear(h, q);
  b.gate_proj = linear(f, h);
  b.up_proj = linear(f, h);
  b.down_proj = linear(h, f);
  b.input_norm = torch::ones({h});
  b.post_norm = torch::ones({h});
  return b;
}

// An in-memory store holding `x` [n, len, hidden].
inline absl::StatusOr<std::unique_ptr<ActivationStore>> StoreOf(const torch::Tensor& x) {
  auto s = ActivationStore::Create(x.size(0), {x.size(1), x.size(2)}, ActivationStoreOptions{});
  if (!s.ok()) return s.status();
  (*s)->Write(0, x);
  return s;
}

}  // namespace eqat::bench

#endif  // EQAT_BENCH_RANDOM_BLOCK_H_
