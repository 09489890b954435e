#include "worker/methods/gptq.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/methods/rtn.h"

namespace eqat {

HessianAccumulator::HessianAccumulator(int64_t in_features)
    : h_(torch::zeros({in_features, in_features}, torch::kFloat)) {}

void HessianAccumulator::Add(const torch::Tensor& x) {
  torch::NoGradGuard ng;
  auto rows = x.detach().reshape({-1, x.size(-1)}).to(torch::kFloat);
  int64_t m = rows.size(0);
  // Running mean: H = H * n/(n+m) + 2/(n+m) * X^T X.
  h_.mul_(static_cast<double>(n_) / static_cast<double>(n_ + m));
  n_ += m;
  auto xs = rows * std::sqrt(2.0 / static_cast<double>(n_));
  h_.addmm_(xs.t(), xs);
}

namespace {

// Min/max parameters of columns [c0, c0+g) of w, each [out].
std::pair<torch::Tensor, torch::Tensor> GroupParams(const torch::Tensor& cols, int bits) {
  auto p = kernels::InitMinMax(cols, {bits, -1});
  auto z = p.zero.squeeze(1).clamp(0, kernels::QMax(bits));
  return {p.scale.squeeze(1), z};
}

}  // namespace

absl::StatusOr<GptqResult> GptqQuantize(const torch::Tensor& w_in, const torch::Tensor& h_in,
                                        const kernels::QuantSpec& spec,
                                        const GptqOptions& o) {
  torch::NoGradGuard ng;
  auto W = w_in.detach().to(torch::kFloat).clone();
  auto H = h_in.detach().to(torch::kFloat).clone();
  int64_t out = W.size(0), in = W.size(1);
  int64_t g = kernels::GroupSize(spec, in);
  int64_t G = in / g;
  double qmax = kernels::QMax(spec.bits);

  auto dead = H.diagonal() == 0;
  H.diagonal().masked_fill_(dead, 1.0);
  W.index_put_({torch::indexing::Slice(), dead}, 0.0);

  torch::Tensor U;
  double damp = o.damp * H.diagonal().mean().item<double>();
  for (int attempt = 0;; ++attempt) {
    auto Hd = H.clone();
    Hd.diagonal().add_(damp);
    auto [L, info] = torch::linalg_cholesky_ex(Hd);
    if (info.item<int>() == 0) {
      auto Hinv = torch::cholesky_inverse(L);
      auto [U2, info2] = torch::linalg_cholesky_ex(Hinv, /*upper=*/true);
      if (info2.item<int>() == 0) {
        U = U2;
        break;
      }
    }
    if (attempt == 5) {
      return absl::InternalError("gptq: Hessian is not positive definite even with damping");
    }
    damp *= 10;
  }

  auto scale = torch::zeros({out, G}, torch::kFloat);
  auto zero = torch::zeros({out, G}, torch::kFloat);
  auto Q = torch::zeros_like(W);
  torch::Tensor s, z;
  for (int64_t i1 = 0; i1 < in; i1 += o.block_size) {
    int64_t i2 = std::min(i1 + o.block_size, in);
    int64_t count = i2 - i1;
    auto W1 = W.narrow(1, i1, count).clone();
    auto Err1 = torch::zeros_like(W1);
    auto U1 = U.narrow(0, i1, count).narrow(1, i1, count);
    for (int64_t i = 0; i < count; ++i) {
      int64_t col = i1 + i;
      if (col % g == 0) {
        // The group's columns: error-updated ones inside this block, the
        // lazily-updated W beyond it.
        torch::Tensor cols;
        if (i + g <= count) {
          cols = W1.narrow(1, i, g);
        } else {
          cols = torch::cat({W1.narrow(1, i, count - i), W.narrow(1, i2, g - (count - i))}, 1);
        }
        std::tie(s, z) = GroupParams(cols, spec.bits);
        scale.select(1, col / g).copy_(s);
        zero.select(1, col / g).copy_(z);
      }
      auto wcol = W1.select(1, i);
      auto q = ((wcol / s).round() + z).clamp(0, qmax);
      auto wq = (q - z) * s;
      Q.select(1, col).copy_(wq);
      auto d = U1[i][i];
      auto err = (wcol - wq) / d;
      W1.narrow(1, i, count - i).sub_(err.unsqueeze(1).matmul(U1[i].narrow(0, i, count - i).unsqueeze(0)));
      Err1.select(1, i).copy_(err);
    }
    if (i2 < in) {
      W.narrow(1, i2, in - i2).sub_(Err1.matmul(U.narrow(0, i1, count).narrow(1, i2, in - i2)));
    }
  }
  return GptqResult{Q, scale, zero};
}

namespace {

struct Stage {
  std::vector<std::string> linears;
  torch::Tensor BlockTaps::*tap;
};

}  // namespace

absl::Status QuantizeBlockGptq(Block* block, const ModelConfig& config, const ActivationStore& x,
                               const kernels::QuantSpec& spec, const GptqOptions& options,
                               int64_t batch_size) {
  torch::NoGradGuard ng;
  const std::vector<Stage> stages = {
      {{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}, &BlockTaps::attn_in},
      {{"self_attn.o_proj"}, &BlockTaps::o_in},
      {{"mlp.gate_proj", "mlp.up_proj"}, &BlockTaps::mlp_in},
      {{"mlp.down_proj"}, &BlockTaps::down_in},
  };
  auto linears = block->Linears();
  auto find = [&](const std::string& n) -> Linear* {
    for (auto& [name, lin] : linears) {
      if (name == n) return lin;
    }
    return nullptr;
  };
  int64_t N = x.size();
  for (const Stage& stage : stages) {
    Linear* first = find(stage.linears[0]);
    HessianAccumulator acc(first->in_features());
    for (int64_t b = 0; b < N; b += batch_size) {
      BlockTaps taps;
      BlockForward(*block, config, x.Read(b, std::min(batch_size, N - b)), &taps);
      acc.Add(taps.*(stage.tap));
    }
    for (const std::string& name : stage.linears) {
      Linear* lin = find(name);
      ASSIGN_OR_RETURN(GptqResult r, GptqQuantize(lin->weight, acc.hessian(), spec, options));
      PackLinearInPlace(lin, r.weight_q, r.scale, r.zero, spec);
    }
  }
  return absl::OkStatus();
}

}  // namespace eqat
