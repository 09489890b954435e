#include "worker/model/llama_model.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "kernels/awq_layout.h"
#include "kernels/compressed_tensors_layout.h"
#include "worker/model/tensor_io.h"

namespace eqat {
namespace F = torch::nn::functional;

int64_t Linear::out_features() const {
  return mode == Mode::kPacked ? packed.out_features : weight.size(0);
}
int64_t Linear::in_features() const {
  return mode == Mode::kPacked ? packed.in_features : weight.size(1);
}

torch::Tensor Linear::EffectiveWeight() const {
  switch (mode) {
    case Mode::kFloat: return weight;
    case Mode::kFakeQuant: return kernels::FakeQuantize(weight, scale, zero, spec);
    case Mode::kPacked: return kernels::DequantizeWeight(packed);
  }
  return weight;
}

torch::Tensor Linear::Forward(const torch::Tensor& x) const {
  auto w = EffectiveWeight();
  auto y = bias.defined() ? F::linear(x, w, bias) : F::linear(x, w);
  if (!has_lora()) return y;
  auto l = F::linear(F::linear(x, lora_a), lora_b);
  return torch::add(y, l.to(y.scalar_type()), lora_scale);
}

std::vector<std::pair<std::string, Linear*>> Block::Linears() {
  return {{"self_attn.q_proj", &q_proj}, {"self_attn.k_proj", &k_proj},
          {"self_attn.v_proj", &v_proj}, {"self_attn.o_proj", &o_proj},
          {"mlp.gate_proj", &gate_proj}, {"mlp.up_proj", &up_proj},
          {"mlp.down_proj", &down_proj}};
}

std::vector<std::pair<std::string, const Linear*>> Block::Linears() const {
  auto v = const_cast<Block*>(this)->Linears();
  return {v.begin(), v.end()};
}

namespace {
torch::Tensor CloneT(const torch::Tensor& t) {
  return t.defined() ? t.detach().clone() : t;
}
Linear CloneLinear(const Linear& l) {
  Linear c = l;
  c.weight = CloneT(l.weight);
  c.bias = CloneT(l.bias);
  c.scale = CloneT(l.scale);
  c.zero = CloneT(l.zero);
  c.packed.qweight = CloneT(l.packed.qweight);
  c.packed.qzeros = CloneT(l.packed.qzeros);
  c.packed.scales = CloneT(l.packed.scales);
  c.packed.g_idx = CloneT(l.packed.g_idx);
  c.lora_a = CloneT(l.lora_a);
  c.lora_b = CloneT(l.lora_b);
  return c;
}
}  // namespace

Block Block::Clone() const {
  Block b;
  auto src = Linears();
  auto dst = b.Linears();
  for (size_t i = 0; i < src.size(); ++i) *dst[i].second = CloneLinear(*src[i].second);
  b.input_norm = CloneT(input_norm);
  b.post_norm = CloneT(post_norm);
  b.q_norm = CloneT(q_norm);
  b.k_norm = CloneT(k_norm);
  return b;
}

Block Block::To(const torch::Device& device) const {
  Block b = Clone();
  auto move = [&](torch::Tensor& t) {
    if (t.defined()) t = t.to(device);
  };
  for (auto& [name, lin] : b.Linears()) {
    move(lin->weight);
    move(lin->bias);
    move(lin->scale);
    move(lin->zero);
    move(lin->packed.qweight);
    move(lin->packed.qzeros);
    move(lin->packed.scales);
    move(lin->packed.g_idx);
    move(lin->lora_a);
    move(lin->lora_b);
  }
  move(b.input_norm);
  move(b.post_norm);
  move(b.q_norm);
  move(b.k_norm);
  return b;
}

torch::Tensor RmsNorm(const torch::Tensor& x, const torch::Tensor& w, double eps) {
  auto xf = x.to(torch::kFloat);
  auto var = xf.pow(2).mean(-1, /*keepdim=*/true);
  return w * (xf * torch::rsqrt(var + eps));
}

std::pair<torch::Tensor, torch::Tensor> RopeTables(const ModelConfig& c, int64_t T) {
  int64_t hd = c.head_dim;
  auto idx = torch::arange(0, hd, 2, torch::kDouble);
  auto inv_freq = 1.0 / torch::pow(c.rope_theta, idx / static_cast<double>(hd));
  const RopeScaling& rs = c.rope_scaling;
  if (rs.type == "linear") {
    inv_freq = inv_freq / rs.factor;
  } else if (rs.type == "llama3") {
    double old_len = static_cast<double>(rs.original_max_position_embeddings);
    double low_wavelen = old_len / rs.low_freq_factor;
    double high_wavelen = old_len / rs.high_freq_factor;
    auto wavelen = 2.0 * M_PI / inv_freq;
    auto scaled = torch::where(wavelen > low_wavelen, inv_freq / rs.factor, inv_freq);
    auto smooth = (old_len / wavelen - rs.low_freq_factor) /
                  (rs.high_freq_factor - rs.low_freq_factor);
    auto smoothed = (1 - smooth) * scaled / rs.factor + smooth * scaled;
    auto medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
    inv_freq = torch::where(medium, smoothed, scaled);
  }
  // HF computes inv_freq in fp32 and the outer product in fp32.
  auto inv32 = inv_freq.to(torch::kFloat);
  auto pos = torch::arange(T, torch::kFloat);
  auto freqs = torch::outer(pos, inv32);
  auto emb = torch::cat({freqs, freqs}, -1);
  return {emb.cos(), emb.sin()};
}

namespace {

torch::Tensor RotateHalf(const torch::Tensor& x) {
  int64_t h = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, h, h), x.narrow(-1, 0, h)}, -1);
}

// Attention up to (excluding) o_proj.
torch::Tensor AttentionCore(const Block& b, const ModelConfig& c, const torch::Tensor& x) {
  int64_t B = x.size(0), T = x.size(1);
  int64_t nh = c.num_attention_heads, nkv = c.num_key_value_heads, hd = c.head_dim;
  auto q = b.q_proj.Forward(x).view({B, T, nh, hd}).transpose(1, 2);
  auto k = b.k_proj.Forward(x).view({B, T, nkv, hd}).transpose(1, 2);
  auto v = b.v_proj.Forward(x).view({B, T, nkv, hd}).transpose(1, 2);
  if (c.qk_norm) {  // Qwen3: over head_dim, per head, before RoPE
    q = RmsNorm(q, b.q_norm, c.rms_norm_eps).to(v.scalar_type());
    k = RmsNorm(k, b.k_norm, c.rms_norm_eps).to(v.scalar_type());
  }
  auto [cos, sin] = RopeTables(c, T);
  cos = cos.to(q.device(), q.scalar_type());
  sin = sin.to(q.device(), q.scalar_type());
  q = q * cos + RotateHalf(q) * sin;
  k = k * cos + RotateHalf(k) * sin;
  if (nkv != nh) {
    k = k.repeat_interleave(nh / nkv, 1);
    v = v.repeat_interleave(nh / nkv, 1);
  }
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(hd));
  auto bool_opts = torch::TensorOptions().dtype(torch::kBool).device(q.device());
  auto allowed = torch::ones({T, T}, bool_opts).tril();
  if (c.sliding_window > 0 && c.sliding_window < T) {
    allowed = allowed.logical_and(torch::ones({T, T}, bool_opts).triu(-(c.sliding_window - 1)));
  }
  scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity());
  auto p = torch::softmax(scores.to(torch::kFloat), -1).to(q.scalar_type());
  return torch::matmul(p, v).transpose(1, 2).reshape({B, T, nh * hd});
}

}  // namespace

torch::Tensor BlockForward(const Block& b, const ModelConfig& c, const torch::Tensor& x,
                           BlockTaps* taps) {
  auto xn = RmsNorm(x, b.input_norm, c.rms_norm_eps);
  auto attn = AttentionCore(b, c, xn);
  auto h = x + b.o_proj.Forward(attn);
  auto n = RmsNorm(h, b.post_norm, c.rms_norm_eps);
  auto act = F::silu(b.gate_proj.Forward(n)) * b.up_proj.Forward(n);
  if (taps != nullptr) *taps = {xn, attn, n, act};
  return h + b.down_proj.Forward(act);
}

std::string LinearPrefix(int block, const std::string& linear_name) {
  return absl::StrCat("model.layers.", block, ".", linear_name);
}

namespace {

struct LinearShape {
  int64_t out, in;
  bool bias;
};

LinearShape ShapeOf(const ModelConfig& c, const std::string& name) {
  const bool qkv = name == "self_attn.q_proj" || name == "self_attn.k_proj" ||
                   name == "self_attn.v_proj";
  const bool bias = qkv ? c.attention_bias : name == "self_attn.o_proj" && c.o_proj_bias;
  for (const LinearDims& l : BlockLinearDims(c)) {
    if (name == l.name) return {l.out_features, l.in_features, bias};
  }
  return {0, 0, false};  // unreachable: callers pass Block::Linears() names
}

absl::Status LoadLinear(const SafetensorsModel& st, const ModelConfig& c, int block,
                        const std::string& name, Linear* out) {
  LinearShape s = ShapeOf(c, name);
  std::string prefix = LinearPrefix(block, name);
  if (s.bias) {
    ASSIGN_OR_RETURN(out->bias, ReadFloatTensor(st, prefix + ".bias", {s.out}));
  }
  if (!c.quantization.present) {
    out->mode = Linear::Mode::kFloat;
    ASSIGN_OR_RETURN(out->weight, ReadFloatTensor(st, prefix + ".weight", {s.out, s.in}));
    return absl::OkStatus();
  }
  const QuantizationConfig& qc = c.quantization;
  out->spec = {qc.bits, qc.group_size};
  RETURN_IF_ERROR(kernels::ValidateQuantSpecFor(out->spec, s.in, prefix));
  if (qc.checkpoint_format == "awq") {
    kernels::AwqTensors t;
    ASSIGN_OR_RETURN(t.qweight, ReadInt32Tensor(st, prefix + ".qweight", {}));
    ASSIGN_OR_RETURN(t.qzeros, ReadInt32Tensor(st, prefix + ".qzeros", {}));
    ASSIGN_OR_RETURN(t.scales, ReadTensor(st, prefix + ".scales"));
    ASSIGN_OR_RETURN(out->packed, kernels::FromAwq(t, qc.group_size, s.in, s.out, prefix));
  } else if (qc.checkpoint_format == "pack-quantized") {
    kernels::CompressedTensors t;
    ASSIGN_OR_RETURN(t.weight_packed, ReadInt32Tensor(st, prefix + ".weight_packed", {}));
    ASSIGN_OR_RETURN(t.weight_zero_point, ReadInt32Tensor(st, prefix + ".weight_zero_point", {}));
    ASSIGN_OR_RETURN(t.weight_scale, ReadTensor(st, prefix + ".weight_scale"));
    ASSIGN_OR_RETURN(t.weight_shape, ReadTensor(st, prefix + ".weight_shape"));
    ASSIGN_OR_RETURN(out->packed, kernels::FromCompressedTensors(t, qc.bits, qc.group_size, s.in,
                                                                 s.out, prefix));
  } else {
    kernels::PackedLinear& p = out->packed;
    p.bits = qc.bits;
    p.group_size = qc.group_size;
    p.in_features = s.in;
    p.out_features = s.out;
    int64_t G = p.num_groups();
    ASSIGN_OR_RETURN(p.qweight, ReadInt32Tensor(st, prefix + ".qweight",
                                                {kernels::PackedLength(s.in, qc.bits), s.out}));
    ASSIGN_OR_RETURN(p.qzeros, ReadInt32Tensor(st, prefix + ".qzeros",
                                               {G, kernels::PackedLength(s.out, qc.bits)}));
    ASSIGN_OR_RETURN(p.scales, ReadFloatTensor(st, prefix + ".scales", {G, s.out}));
    ASSIGN_OR_RETURN(p.g_idx, ReadInt32Tensor(st, prefix + ".g_idx", {s.in}));
    if (qc.checkpoint_format == "gptq") {
      p.qzeros = kernels::QZerosFromV1(p.qzeros, qc.bits, G, s.out);
    }
  }
  const kernels::PackedLinear& p = out->packed;
  RETURN_IF_ERROR(kernels::ValidatePacked(p, prefix));
  out->mode = Linear::Mode::kPacked;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Block> LoadBlock(const SafetensorsModel& st, const ModelConfig& cfg, int i) {
  Block b;
  for (auto& [name, lin] : b.Linears()) RETURN_IF_ERROR(LoadLinear(st, cfg, i, name, lin));
  std::string p = absl::StrCat("model.layers.", i, ".");
  int64_t H = cfg.hidden_size;
  ASSIGN_OR_RETURN(b.input_norm, ReadFloatTensor(st, p + "input_layernorm.weight", {H}));
  ASSIGN_OR_RETURN(b.post_norm, ReadFloatTensor(st, p + "post_attention_layernorm.weight", {H}));
  if (cfg.qk_norm) {
    const int64_t hd = cfg.head_dim;
    ASSIGN_OR_RETURN(b.q_norm, ReadFloatTensor(st, p + "self_attn.q_norm.weight", {hd}));
    ASSIGN_OR_RETURN(b.k_norm, ReadFloatTensor(st, p + "self_attn.k_norm.weight", {hd}));
  }
  return b;
}

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Load(const std::string& dir) {
  return LoadRange(dir, 0, -1);
}

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::LoadRange(const std::string& dir,
                                                                  int first, int last) {
  ASSIGN_OR_RETURN(ModelConfig cfg, LoadModelConfig(dir));
  ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsModel> st, SafetensorsModel::Open(dir));
  if (last < 0) last = static_cast<int>(cfg.num_hidden_layers);
  if (first < 0 || first > last || last > cfg.num_hidden_layers) {
    return absl::InvalidArgumentError(absl::StrCat("block range [", first, ",", last,
                                                   ") outside 0..", cfg.num_hidden_layers));
  }
  auto m = std::unique_ptr<LlamaModel>(new LlamaModel());
  int64_t H = cfg.hidden_size, V = cfg.vocab_size;
  // A vocab_size that disagrees with the checkpoint is a config error: say so
  // (the shape check below would only name the tensor).
  for (const char* name : {"model.embed_tokens.weight", "lm_head.weight"}) {
    const TensorInfo* t = st->Find(name);
    if (t != nullptr && t->shape.size() == 2 && t->shape[0] != V) {
      return absl::InvalidArgumentError(
          absl::StrCat(JoinPath(dir, "config.json"), ": vocab_size ", V, " does not match the ",
                       t->shape[0], " rows of tensor '", name, "'"));
    }
  }
  ASSIGN_OR_RETURN(m->embed_, ReadFloatTensor(*st, "model.embed_tokens.weight", {V, H}));
  ASSIGN_OR_RETURN(m->norm_, ReadFloatTensor(*st, "model.norm.weight", {H}));
  if (cfg.tie_word_embeddings && !st->Has("lm_head.weight")) {
    m->lm_head_ = m->embed_;
  } else {
    ASSIGN_OR_RETURN(m->lm_head_, ReadFloatTensor(*st, "lm_head.weight", {V, H}));
  }
  m->first_block_ = first;
  for (int i = first; i < last; ++i) {
    ASSIGN_OR_RETURN(Block b, LoadBlock(*st, cfg, i));
    m->blocks_.push_back(std::move(b));
  }
  m->config_ = std::move(cfg);
  return m;
}

void LlamaModel::SetBlocks(std::vector<Block> blocks, int first_block) {
  blocks_ = std::move(blocks);
  first_block_ = first_block;
}

torch::Tensor LlamaModel::Embed(const torch::Tensor& ids) const {
  return F::embedding(ids, embed_);
}

torch::Tensor LlamaModel::Head(const torch::Tensor& hidden) const {
  return F::linear(RmsNorm(hidden, norm_, config_.rms_norm_eps), lm_head_);
}

torch::Tensor LlamaModel::Forward(const torch::Tensor& ids) const {
  auto h = Embed(ids);
  for (const Block& b : blocks_) h = BlockForward(b, config_, h);
  return Head(h);
}

}  // namespace eqat
