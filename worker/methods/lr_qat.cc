#include "worker/methods/lr_qat.h"

#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/packed_linear.h"

namespace eqat {
namespace {

// [out, in] -> [out, G, g]
torch::Tensor Grouped(const torch::Tensor& w, int64_t g) {
  return w.reshape({w.size(0), w.size(1) / g, g});
}

torch::Tensor RoundSte(const torch::Tensor& x) { return (x.round() - x).detach() + x; }

// Phi0 + c A B, grouped [out, G, g]. The one expression every path uses, so
// the training forward, its recomputation and the fold see the same bits.
torch::Tensor LowRankInput(const LrQatLinearState& st, double c, int64_t g) {
  return Grouped(LrQatDecodePhi(st.phi, st.fp) + st.a.mm(st.b).mul(c), g);
}

// W^ built with autograd's own ops (keeps its intermediates for backward).
torch::Tensor PlainWeight(const LrQatLinearState& st, const torch::Tensor& scale, double c,
                          int64_t g, double qmax) {
  auto z = st.zero.unsqueeze(-1);
  auto q = (RoundSte(LowRankInput(st, c, g)) + z).clamp(0, qmax);
  return ((q - z) * scale.unsqueeze(-1)).reshape(st.phi.sizes());
}

// The same W^ with the intermediates recomputed in backward. Saves only the
// inputs; the gradients are those of PlainWeight:
//   dW^/dX = s * [0 <= round(X) + z <= qmax]  (round_ste, clamp), X = Phi0 + c A B
//   dW^/ds = q - z (summed over the group)
class CheckpointedWeight : public torch::autograd::Function<CheckpointedWeight> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor a,
                               torch::Tensor b, torch::Tensor scale, torch::Tensor phi,
                               torch::Tensor zero, double c, int64_t g, int64_t qmax,
                               int64_t storage_bits, int64_t frac_bits) {
    ctx->save_for_backward({a, b, scale, phi, zero});
    ctx->saved_data["c"] = c;
    ctx->saved_data["g"] = g;
    ctx->saved_data["qmax"] = qmax;
    ctx->saved_data["storage_bits"] = storage_bits;
    ctx->saved_data["frac_bits"] = frac_bits;
    torch::NoGradGuard ng;
    LrQatLinearState st = Unsaved(a, b, phi, zero, storage_bits, frac_bits);
    return PlainWeight(st, scale, c, g, static_cast<double>(qmax));
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto saved = ctx->get_saved_variables();
    const double c = ctx->saved_data["c"].toDouble();
    const int64_t g = ctx->saved_data["g"].toInt();
    const double qmax = static_cast<double>(ctx->saved_data["qmax"].toInt());
    LrQatLinearState st = Unsaved(saved[0], saved[1], saved[3], saved[4],
                                  ctx->saved_data["storage_bits"].toInt(),
                                  ctx->saved_data["frac_bits"].toInt());
    const torch::Tensor& scale = saved[2];
    torch::NoGradGuard ng;
    auto z = st.zero.unsqueeze(-1);
    auto u = LowRankInput(st, c, g).round() + z;
    auto in_range = (u >= 0).logical_and(u <= qmax);
    auto gw = Grouped(grad_out[0], g);
    auto grad_scale = (gw * (u.clamp(0, qmax) - z)).sum(-1);
    // Same operation order as autograd's on PlainWeight.
    auto gx = (gw * scale.unsqueeze(-1) * in_range).reshape(st.phi.sizes()).mul(c);
    auto grad_a = gx.mm(st.b.t());
    auto grad_b = st.a.t().mm(gx);
    return {grad_a, grad_b, grad_scale, torch::Tensor(), torch::Tensor(), torch::Tensor(),
            torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }

 private:
  static LrQatLinearState Unsaved(const torch::Tensor& a, const torch::Tensor& b,
                                  const torch::Tensor& phi, const torch::Tensor& zero,
                                  int64_t storage_bits, int64_t frac_bits) {
    LrQatLinearState st;
    st.a = a;
    st.b = b;
    st.phi = phi;
    st.zero = zero;
    st.fp.storage_bits = static_cast<int>(storage_bits);
    st.fp.frac_bits = static_cast<int>(frac_bits);
    return st;
  }
};

struct LinearShape {
  int64_t out, in;
};

std::vector<LinearShape> BlockLinearShapes(const ModelConfig& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  const int64_t heads = c.num_attention_heads;
  const int64_t kv = c.num_key_value_heads > 0 ? c.num_key_value_heads : heads;
  const int64_t hd = c.head_dim > 0 ? c.head_dim : H / heads;
  return {{heads * hd, H}, {kv * hd, H}, {kv * hd, H}, {H, heads * hd},
          {I, H},          {I, H},       {H, I}};
}

TrainableCount FromParams(int64_t params) { return {params, params * 2 * 4}; }

}  // namespace

absl::StatusOr<LrQatFixedPoint> LrQatFixedPointFor(int bits) {
  if (!IsSupportedBits(bits)) {
    return absl::InvalidArgumentError(absl::StrCat("lrqat: bits ", bits, " not supported"));
  }
  LrQatFixedPoint fp;
  fp.storage_bits = bits <= 6 ? 8 : 16;
  fp.frac_bits = fp.storage_bits - 1 - bits;
  return fp;
}

torch::Tensor LrQatEncodePhi(const torch::Tensor& x, const LrQatFixedPoint& fp) {
  torch::NoGradGuard ng;
  auto xf = x.detach().to(torch::kFloat);
  // Exact: scaling by a power of two and floor introduce no rounding.
  auto m = (xf * std::ldexp(1.0, fp.frac_bits)).floor();
  // x exactly k + 1/2 with round-half-even going down: take the cell below,
  // so round(Phi0) = round(x) there too.
  auto fl = xf.floor();
  auto tie_down = (xf - fl == 0.5).logical_and(xf.round() == fl);
  m = m - tie_down.to(torch::kFloat);
  const double lo = -std::ldexp(1.0, fp.storage_bits - 1);
  const double hi = std::ldexp(1.0, fp.storage_bits - 1) - 1;
  return m.clamp(lo, hi).to(fp.storage_bits == 8 ? torch::kChar : torch::kShort);
}

torch::Tensor LrQatDecodePhi(const torch::Tensor& m, const LrQatFixedPoint& fp) {
  return m.to(torch::kFloat).add(0.5).mul(std::ldexp(1.0, -fp.frac_bits));
}

torch::Tensor LrQatWeight(const LrQatLinearState& st, const torch::Tensor& scale, double c,
                          const kernels::QuantSpec& spec, bool checkpointed) {
  const int64_t g = kernels::GroupSize(spec, st.phi.size(1));
  const int64_t qmax = kernels::QMax(spec.bits);
  if (!checkpointed) return PlainWeight(st, scale, c, g, static_cast<double>(qmax));
  return CheckpointedWeight::apply(st.a, st.b, scale, st.phi, st.zero, c, g, qmax,
                                   static_cast<int64_t>(st.fp.storage_bits),
                                   static_cast<int64_t>(st.fp.frac_bits));
}

torch::Tensor LrQatCodes(const LrQatLinearState& st, double c, const kernels::QuantSpec& spec) {
  torch::NoGradGuard ng;
  const int64_t g = kernels::GroupSize(spec, st.phi.size(1));
  auto q = (LowRankInput(st, c, g).round() + st.zero.unsqueeze(-1)).clamp(0, kernels::QMax(spec.bits));
  return q.reshape(st.phi.sizes()).to(torch::kUInt8);
}

void LrQatMethod::Prepare(Block* block, const kernels::QuantSpec& spec,
                          std::vector<torch::Tensor>* quant,
                          std::vector<torch::Tensor>* other) const {
  absl::StatusOr<LrQatFixedPoint> fp = LrQatFixedPointFor(spec.bits);
  TORCH_CHECK(fp.ok(), std::string(fp.status().message()));
  TORCH_CHECK(rank_ >= 1, "lrqat: rank must be >= 1");
  state_.clear();
  const double c = lora_scale();
  const double qmax = kernels::QMax(spec.bits);
  for (auto& [name, lin] : block->Linears()) {
    TORCH_CHECK(lin->mode == Linear::Mode::kFloat, "lrqat: ", name, " is not a float linear");
    torch::Tensor w0 = lin->weight.detach().to(torch::kFloat);
    kernels::QuantParams p = kernels::InitMinMax(w0, spec);
    const int64_t out = w0.size(0), in = w0.size(1), g = kernels::GroupSize(spec, in);
    LrQatLinearState st;
    st.fp = *fp;
    {
      torch::NoGradGuard ng;
      // x = W0 / s0 exactly as FakeQuantize / QuantizeToInt compute it.
      st.phi = LrQatEncodePhi((Grouped(w0, g) / p.scale.unsqueeze(-1)).reshape({out, in}), *fp);
      st.zero = p.zero.clamp(0, qmax).contiguous();
    }
    auto opts = torch::TensorOptions().dtype(torch::kFloat).device(w0.device());
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    st.a = torch::zeros({out, rank_}, opts).requires_grad_(true);
    st.b = (torch::rand({rank_, in}, opts) * (2 * bound) - bound).requires_grad_(true);
    lin->mode = Linear::Mode::kFloat;
    lin->spec = spec;
    lin->scale = p.scale.requires_grad_(true);
    lin->zero = st.zero;
    {
      torch::NoGradGuard ng;
      lin->weight = LrQatWeight(st, lin->scale, c, spec, /*checkpointed=*/false);  // W0 dropped
    }
    quant->push_back(lin->scale);
    other->push_back(st.a);
    other->push_back(st.b);
    state_[name] = std::move(st);
  }
}

void LrQatMethod::BeforeForward(Block* block) const {
  const double c = lora_scale();
  for (auto& [name, lin] : block->Linears()) {
    auto it = state_.find(name);
    TORCH_CHECK(it != state_.end(), "lrqat: ", name, " was not prepared");
    lin->weight = LrQatWeight(it->second, lin->scale, c, lin->spec, checkpointing_);
  }
}

void LrQatMethod::Finish(Block* block, const kernels::QuantSpec& spec) const {
  torch::NoGradGuard ng;
  const double c = lora_scale();
  for (auto& [name, lin] : block->Linears()) {
    auto it = state_.find(name);
    TORCH_CHECK(it != state_.end(), "lrqat: ", name, " was not prepared");
    LrQatLinearState& st = it->second;
    // Codes on the training device (the bits the training forward saw).
    torch::Tensor q = LrQatCodes(st, c, spec).cpu();
    torch::Tensor scale = lin->scale.detach().to(torch::kCPU, torch::kFloat);
    st.phi = st.phi.cpu();
    st.a = st.a.detach().cpu();
    st.b = st.b.detach().cpu();
    st.zero = st.zero.detach().cpu();
    st.scale = scale;
    lin->packed = kernels::PackLinear(q, st.zero.to(torch::kUInt8), scale, spec);
    lin->spec = spec;
    lin->mode = Linear::Mode::kPacked;
    lin->weight = torch::Tensor();
    lin->scale = torch::Tensor();
    lin->zero = torch::Tensor();
    if (lin->bias.defined()) lin->bias = lin->bias.detach();
  }
  for (torch::Tensor* t : {&block->input_norm, &block->post_norm, &block->q_norm, &block->k_norm}) {
    if (t->defined()) *t = t->detach();
  }
}

const LrQatLinearState* LrQatMethod::State(const std::string& name) const {
  auto it = state_.find(name);
  return it == state_.end() ? nullptr : &it->second;
}

TrainableCount BlockApTrainableCount(const ModelConfig& config, const kernels::QuantSpec& spec) {
  int64_t n = 0;
  for (const LinearShape& l : BlockLinearShapes(config)) {
    n += l.out * l.in + 2 * l.out * kernels::NumGroups(spec, l.in);  // W, s, z
  }
  n += 2 * config.hidden_size;  // input / post-attention RMSNorm
  if (config.qk_norm) {
    n += 2 * (config.head_dim > 0 ? config.head_dim
                                  : config.hidden_size / config.num_attention_heads);
  }
  return FromParams(n);
}

TrainableCount LrQatTrainableCount(const ModelConfig& config, const kernels::QuantSpec& spec,
                                   int rank) {
  int64_t n = 0;
  for (const LinearShape& l : BlockLinearShapes(config)) {
    n += l.out * kernels::NumGroups(spec, l.in) + static_cast<int64_t>(rank) * (l.out + l.in);
  }
  return FromParams(n);
}

}  // namespace eqat
