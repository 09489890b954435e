// Bit packing of low-bit integers into int32 words, the GPTQ layout.
//
// Along one axis of length n, value k occupies bits [bits*k, bits*k + bits)
// of a little-endian bitstream of 32-bit words; word w holds stream bits
// [32w, 32w+32). For 2/4/8 bits this is "value j of a word at bits
// [b*j, b*j+b)"; for 3 bits it is the standard GPTQ layout of 32 values in 3
// words (values 10 and 21 straddle words). The packed length is
// ceil(n*bits/32) words; padding bits are zero, so odd n round-trips.
// Torch-free and thread-safe (pure functions on caller-owned buffers).
#ifndef EQAT_KERNELS_PACK_H_
#define EQAT_KERNELS_PACK_H_

#include <cstdint>

#include "common/quant_spec.h"

namespace eqat::kernels {

using ::eqat::IsSupportedBits;  // common/quant_spec.h

// Words needed for n values of `bits` bits: ceil(n*bits/32).
inline int64_t PackedLength(int64_t n, int bits) { return (n * bits + 31) / 32; }

// q: row-major [n, cols], values < 2^bits. out: [PackedLength(n), cols],
// packed along dim 0 (qweight: in_features packed, columns = out_features).
// REQUIRES: IsSupportedBits(bits); buffers of the stated sizes.
void PackRows(const uint8_t* q, int64_t n, int64_t cols, int bits, int32_t* out);
void UnpackRows(const int32_t* packed, int64_t n, int64_t cols, int bits, uint8_t* q);

// q: row-major [rows, n]. out: [rows, PackedLength(n)], packed along dim 1
// (qzeros: out_features packed).
void PackCols(const uint8_t* q, int64_t rows, int64_t n, int bits, int32_t* out);
void UnpackCols(const int32_t* packed, int64_t rows, int64_t n, int bits, uint8_t* q);

}  // namespace eqat::kernels

#endif  // EQAT_KERNELS_PACK_H_
