#include "kernels/pack.h"

#include <cstring>

namespace eqat::kernels {
namespace {

// Writes value v (< 2^bits) at stream position k of a strided word sequence.
inline void PutValue(uint32_t* words, int64_t stride, int64_t k, int bits, uint32_t v) {
  int64_t pos = k * bits;
  int64_t w = pos >> 5;
  int off = static_cast<int>(pos & 31);
  words[w * stride] |= v << off;
  if (off + bits > 32) words[(w + 1) * stride] |= v >> (32 - off);
}

inline uint32_t GetValue(const uint32_t* words, int64_t stride, int64_t k, int bits) {
  int64_t pos = k * bits;
  int64_t w = pos >> 5;
  int off = static_cast<int>(pos & 31);
  uint32_t mask = (1u << bits) - 1u;
  uint32_t v = words[w * stride] >> off;
  if (off + bits > 32) v |= words[(w + 1) * stride] << (32 - off);
  return v & mask;
}

}  // namespace

void PackRows(const uint8_t* q, int64_t n, int64_t cols, int bits, int32_t* out) {
  int64_t rows = PackedLength(n, bits);
  std::memset(out, 0, sizeof(int32_t) * rows * cols);
  uint32_t* words = reinterpret_cast<uint32_t*>(out);
  uint32_t mask = (1u << bits) - 1u;
  for (int64_t k = 0; k < n; ++k) {
    for (int64_t c = 0; c < cols; ++c) {
      PutValue(words + c, cols, k, bits, q[k * cols + c] & mask);
    }
  }
}

void UnpackRows(const int32_t* packed, int64_t n, int64_t cols, int bits, uint8_t* q) {
  const uint32_t* words = reinterpret_cast<const uint32_t*>(packed);
  for (int64_t k = 0; k < n; ++k) {
    for (int64_t c = 0; c < cols; ++c) {
      q[k * cols + c] = static_cast<uint8_t>(GetValue(words + c, cols, k, bits));
    }
  }
}

void PackCols(const uint8_t* q, int64_t rows, int64_t n, int bits, int32_t* out) {
  int64_t len = PackedLength(n, bits);
  std::memset(out, 0, sizeof(int32_t) * rows * len);
  uint32_t mask = (1u << bits) - 1u;
  for (int64_t r = 0; r < rows; ++r) {
    uint32_t* words = reinterpret_cast<uint32_t*>(out + r * len);
    for (int64_t k = 0; k < n; ++k) PutValue(words, 1, k, bits, q[r * n + k] & mask);
  }
}

void UnpackCols(const int32_t* packed, int64_t rows, int64_t n, int bits, uint8_t* q) {
  int64_t len = PackedLength(n, bits);
  for (int64_t r = 0; r < rows; ++r) {
    const uint32_t* words = reinterpret_cast<const uint32_t*>(packed + r * len);
    for (int64_t k = 0; k < n; ++k) q[r * n + k] = static_cast<uint8_t>(GetValue(words, 1, k, bits));
  }
}

}  // namespace eqat::kernels
