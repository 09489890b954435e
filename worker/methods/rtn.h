// Round-to-nearest (RTN) baseline: min/max step sizes and zero points per
// group, no data. Also the shared "freeze a linear into packed form" step
// used by every method once its parameters are final.
// Thread-safety: mutates the given block/linear only.
#ifndef EQAT_WORKER_METHODS_RTN_H_
#define EQAT_WORKER_METHODS_RTN_H_

#include <torch/torch.h>

#include "kernels/quantizer.h"
#include "worker/model/llama_model.h"

namespace eqat {

// Rounds `w` with (scale, zero) ([out, G] fp32), packs it, and switches the
// linear to Mode::kPacked (scales stored fp16, biases kept).
void PackLinearInPlace(Linear* lin, const torch::Tensor& w, const torch::Tensor& scale,
                       const torch::Tensor& zero, const kernels::QuantSpec& spec);

// RTN on every linear of the block.
void QuantizeBlockRtn(Block* block, const kernels::QuantSpec& spec);

}  // namespace eqat

#endif  // EQAT_WORKER_METHODS_RTN_H_
