#include "worker/methods/apiq.h"

#include <cmath>

#include "worker/methods/rtn.h"

namespace eqat {

void ApiqMethod::Prepare(Block* b, const kernels::QuantSpec& spec,
                         std::vector<torch::Tensor>* quant,
                         std::vector<torch::Tensor>* other) const {
  for (auto& [name, lin] : b->Linears()) {
    kernels::QuantParams p = kernels::InitMinMax(lin->weight, spec);
    lin->mode = Linear::Mode::kFakeQuant;
    lin->spec = spec;
    lin->weight = lin->weight.detach();  // frozen
    lin->scale = p.scale.requires_grad_(true);
    lin->zero = p.zero.requires_grad_(true);
    quant->push_back(lin->scale);
    quant->push_back(lin->zero);
    const int64_t in = lin->in_features(), out = lin->out_features();
    auto opts = torch::TensorOptions().dtype(torch::kFloat).device(lin->weight.device());
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    lin->lora_a = (torch::rand({rank_, in}, opts) * (2 * bound) - bound).requires_grad_(true);
    lin->lora_b = torch::zeros({out, rank_}, opts).requires_grad_(true);
    lin->lora_scale = alpha_ / static_cast<double>(rank_);
    other->push_back(lin->lora_a);
    other->push_back(lin->lora_b);
  }
}

void ApiqMethod::Finish(Block* b, const kernels::QuantSpec& spec) const {
  for (auto& [name, lin] : b->Linears()) {
    PackLinearInPlace(lin, lin->weight.detach(), lin->scale.detach(), lin->zero.detach(), spec);
    lin->lora_a = lin->lora_a.detach();
    lin->lora_b = lin->lora_b.detach();
  }
}

}  // namespace eqat
