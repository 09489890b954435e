// Uniform asymmetric weight quantizer (EfficientQAT formulation), on LibTorch.
//
// A weight W [out, in] is split along `in` into groups of `group_size`
// (-1: one group per output channel). Each group has a step size s and a
// zero point z, stored [out, G] (G = in / group_size) in fp32.
//   init:    s = clamp((max - min) / (2^b - 1), 1e-4, 1e4), z = round(-min / s)
//   forward: zr = clamp(round_ste(z), 0, 2^b-1)
//            q  = clamp(round_ste(W / s) + zr, 0, 2^b - 1)
//            W^ = (q - zr) * s
// round_ste rounds in the forward pass and passes gradients straight through,
// so W, s and z all receive gradients (clamp zeroes them outside the range).
// Thread-safe: pure functions of their tensor arguments.
#ifndef EQAT_KERNELS_QUANTIZER_H_
#define EQAT_KERNELS_QUANTIZER_H_

#include <torch/torch.h>

#include <string>

#include "absl/status/status.h"
#include "common/quant_spec.h"

namespace eqat::kernels {

// QuantSpec and its validation live in common/quant_spec.h (torch-free).
using ::eqat::QuantSpec;
using ::eqat::ValidateQuantSpec;
using ::eqat::ValidateQuantSpecFor;

int64_t GroupSize(const QuantSpec& spec, int64_t in_features);  // resolves -1
int64_t NumGroups(const QuantSpec& spec, int64_t in_features);
inline int QMax(int bits) { return (1 << bits) - 1; }

struct QuantParams {
  torch::Tensor scale;  // float32 [out, G]
  torch::Tensor zero;   // float32 [out, G] (integer-valued after init)
};

// Min/max initialisation (see top of file). `w` is float [out, in].
QuantParams InitMinMax(const torch::Tensor& w, const QuantSpec& spec);

// Differentiable fake quantization W^ (see top of file); same shape as w.
torch::Tensor FakeQuantize(const torch::Tensor& w, const torch::Tensor& scale,
                           const torch::Tensor& zero, const QuantSpec& spec);

// Integer codes q (uint8 [out, in]) and the integer zero points actually used
// (clamp(round(z)), uint8 [out, G]) for given parameters. No gradients.
struct IntCodes {
  torch::Tensor q;     // uint8 [out, in]
  torch::Tensor zero;  // uint8 [out, G]
};
IntCodes QuantizeToInt(const torch::Tensor& w, const torch::Tensor& scale,
                       const torch::Tensor& zero, const QuantSpec& spec);

// (q - zero) * scale as float [out, in]; q uint8 [out,in], zero [out,G] any
// numeric dtype, scale float [out,G]. Differentiable w.r.t. scale.
torch::Tensor DequantizeInt(const torch::Tensor& q, const torch::Tensor& zero,
                            const torch::Tensor& scale, int64_t group_size);

}  // namespace eqat::kernels

#endif  // EQAT_KERNELS_QUANTIZER_H_
