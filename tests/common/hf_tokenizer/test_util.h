// Helpers shared by the HfTokenizer tests: file reading, hex decoding, the
// first differing position of two sequences, the data folder.
#ifndef EQAT_TESTS_COMMON_HF_TOKENIZER_TEST_UTIL_H_
#define EQAT_TESTS_COMMON_HF_TOKENIZER_TEST_UTIL_H_

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace eqat::hf_test {

inline std::string DataDir() { return std::string(EQAT_SOURCE_DIR) + "/tests/data/tokenizers"; }

inline bool ReadFileTo(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

inline std::string HexDecode(const std::string& hex) {
  std::string out;
  auto nib = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(nib(hex[i]) * 16 + nib(hex[i + 1])));
  }
  return out;
}

// Index of the first difference (the shorter length if one is a prefix);
// -1 when equal.
template <typename Seq>
long FirstDiff(const Seq& a, const Seq& b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return static_cast<long>(i);
  }
  return a.size() == b.size() ? -1 : static_cast<long>(n);
}

}  // namespace eqat::hf_test

#endif  // EQAT_TESTS_COMMON_HF_TOKENIZER_TEST_UTIL_H_
