// Device helpers shared by the GPTQ-layout CUDA kernels (internal header).
//
// Bitstream layout as in kernels/pack.h: along an axis of length n, value k
// occupies bits [bits*k, bits*k + bits) of a little-endian stream of 32-bit
// words. A "unit" is 32 consecutive values: it starts at word 32*u*bits/32 =
// u*bits exactly, so unit u of a packed column is words [u*bits, u*bits+bits)
// for every supported width (3 bits included: 32 values in 3 words).
#ifndef EQAT_KERNELS_CUDA_GPTQ_BITS_CUH_
#define EQAT_KERNELS_CUDA_GPTQ_BITS_CUH_

#include <cstdint>

#include <cuda_runtime.h>

namespace eqat::kernels::cuda {

__host__ __device__ constexpr bool IsSupportedGptqBits(int bits) {
  return bits == 2 || bits == 3 || bits == 4 || bits == 8;
}

// Words for n values of `bits` bits: ceil(n*bits/32) (kernels/pack.h).
__host__ __device__ constexpr int64_t PackedWords(int64_t n, int bits) {
  return (n * bits + 31) / 32;
}

// Value k of a contiguous bitstream (a qzeros row): generic, any k.
__device__ __forceinline__ uint32_t ReadPacked(const uint32_t* __restrict__ row, int64_t k,
                                               int bits) {
  const int64_t pos = k * bits;
  const int64_t w = pos >> 5;
  const int off = static_cast<int>(pos & 31);
  uint32_t v = __ldg(row + w) >> off;
  if (off + bits > 32) v |= __ldg(row + w + 1) << (32 - off);
  return v & ((1u << bits) - 1u);
}

// Value j (0..31) of a unit held in registers as BITS words (word b of the
// unit in w[b]). With j a compile-time constant after unrolling, this is one
// shift and one mask (two shifts for the straddling 3-bit values 10 and 21).
template <int BITS>
__host__ __device__ __forceinline__ uint32_t UnitValue(const uint32_t (&w)[BITS], int j) {
  const int pos = j * BITS;
  const int wi = pos >> 5;
  const int off = pos & 31;
  uint32_t v = w[wi] >> off;
  if (off + BITS > 32) v |= w[wi + 1] << (32 - off);
  return v & ((1u << BITS) - 1u);
}

// The GEMV reads a code as the mantissa of a float: for a value held in bits
// [o, o+BITS) of a 16-bit half word with o + BITS <= 16 < 23,
//   as_float(0x4B000000 | (half & (mask << o))) == 2^23 + q * 2^o  exactly,
// one LOP3 instead of shift + mask + convert. XShift(BITS, j) is that o for
// unit value j (0 for 3 bits, which shifts the value down instead); the
// activations are pre-scaled by 2^-o so that x' * (q*2^o) == x * q.
__host__ __device__ constexpr int XShift(int bits, int j) {
  return bits == 3 ? 0 : (((j * bits) & 31) & 15);
}

template <int BITS, int VEC>
__host__ __device__ __forceinline__ uint32_t UnitMantissa(const uint32_t (&w)[BITS][VEC], int c, int j) {
  constexpr uint32_t kMask = (1u << BITS) - 1u;
  if constexpr (BITS == 3) {
    const int pos = j * BITS;
    const int wi = pos >> 5;
    const int off = pos & 31;
    uint32_t v = w[wi][c] >> off;
    if (off + BITS > 32) v |= w[wi + 1][c] << (32 - off);
    return v & kMask;
  } else {
    const int pos = j * BITS;
    const int wi = pos >> 5;
    const int off = pos & 31;
    const uint32_t src = off < 16 ? w[wi][c] : (w[wi][c] >> 16);
    return src & (kMask << (off & 15));
  }
}

}  // namespace eqat::kernels::cuda

#endif  // EQAT_KERNELS_CUDA_GPTQ_BITS_CUH_
