#include "worker/rtn.h"

namespace eqat {

void PackLinearInPlace(Linear* lin, const torch::Tensor& w, const torch::Tensor& scale,
                       const torch::Tensor& zero, const kernels::QuantSpec& spec) {
  torch::NoGradGuard ng;
  // Round the step sizes to their stored precision first, so the integer
  // codes are the nearest ones for the scales a loader will see.
  auto s16 = scale.detach().to(torch::kHalf).to(torch::kFloat);
  kernels::IntCodes codes = kernels::QuantizeToInt(w, s16, zero, spec);
  lin->packed = kernels::PackLinear(codes.q, codes.zero, s16, spec);
  lin->spec = spec;
  lin->mode = Linear::Mode::kPacked;
  lin->weight = torch::Tensor();
  lin->scale = torch::Tensor();
  lin->zero = torch::Tensor();
}

void QuantizeBlockRtn(Block* block, const kernels::QuantSpec& spec) {
  for (auto& [name, lin] : block->Linears()) {
    auto w = lin->weight;
    kernels::QuantParams p = kernels::InitMinMax(w, spec);
    PackLinearInPlace(lin, w, p.scale, p.zero, spec);
  }
}

}  // namespace eqat
