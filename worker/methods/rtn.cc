#include "worker/methods/rtn.h"

namespace eqat {

void PackLinearInPlace(Linear* lin, const torch::Tensor& w, const torch::Tensor& scale,
                       const torch::Tensor& zero, const kernels::QuantSpec& spec) {
  torch::NoGradGuard ng;
  // Codes are chosen with the fp32 step size (as EfficientQAT and the
  // reference implementation do); only the stored scales are fp16.
  kernels::IntCodes codes = kernels::QuantizeToInt(w, scale, zero, spec);
  lin->packed = kernels::PackLinear(codes.q, codes.zero, scale, spec);
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
