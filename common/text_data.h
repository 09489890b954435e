// Text and token datasets for evaluation, calibration and E2E-QP / Q-PEFT.
//
// Sources (by file name):
//   *.bin    pre-tokenized little-endian token ids; width 2 (uint16) or 4
//            (uint32); auto = 2 when vocab_size <= 65536, else 4.
//   *.jsonl  one JSON object per line; the "text" fields joined with "\n\n".
//   other    UTF-8 text; CRLF is turned into LF.
// Tokenization never adds BOS (the evaluation protocol of design.md).
// Thread-safe: free functions over immutable inputs.
#ifndef EQAT_COMMON_TEXT_DATA_H_
#define EQAT_COMMON_TEXT_DATA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tokenizer.h"

namespace eqat {

struct TokenSourceOptions {
  int token_width = 0;  // .bin only: 0 auto, 2 or 4 bytes
};

// Loads a file as a flat token stream. Errors name the path (and line for
// JSONL): NotFound, InvalidArgument (bad JSON, no "text", size not a
// multiple of the width, token id >= vocab_size, empty result).
absl::StatusOr<std::vector<int32_t>> LoadTokens(const std::string& path,
                                                const Tokenizer& tokenizer,
                                                int64_t vocab_size,
                                                const TokenSourceOptions& options = {});

// E2E-QP's pretraining stream, as the official recipe builds it: each
// document tokenized with BOS in front (when the tokenizer has one), the
// documents concatenated. Documents: a .jsonl file's "text" fields, one per
// line; a text file is one document; .bin is taken as it is (no BOS added).
absl::StatusOr<std::vector<int32_t>> LoadDocumentTokens(const std::string& path,
                                                        const Tokenizer& tokenizer,
                                                        int64_t vocab_size);

// Raw text with CRLF -> LF applied (also used by JSONL joining).
std::string NormalizeNewlines(std::string text);

// Non-overlapping windows [i*len, (i+1)*len) for i < floor(n/len), at most
// `max_windows` of them (<= 0: all).
std::vector<std::vector<int32_t>> SplitWindows(const std::vector<int32_t>& tokens,
                                               int64_t len, int64_t max_windows = 0);

// `n` windows of `len` tokens at uniformly random starts in
// [0, tokens.size() - len - 1], drawn with std::mt19937_64(seed) (bit-stable
// across platforms). InvalidArgument if the stream is shorter than len + 1.
absl::StatusOr<std::vector<std::vector<int32_t>>> SampleWindows(
    const std::vector<int32_t>& tokens, int64_t n, int64_t len, uint64_t seed);

// Q-PEFT instruction data: JSONL of {"instruction", "input" (optional),
// "output"} rendered with the Alpaca prompt template (ending "### Response: ",
// as the official code has it). ids = BOS (when the tokenizer has one) +
// prompt + response + EOS, truncated as below; loss_mask[t] = 1 where token t is a
// response/EOS token (a target), 0 for BOS and prompt tokens.
struct InstructionExample {
  std::vector<int32_t> ids;
  std::vector<uint8_t> loss_mask;
};
// As EfficientQAT's Q-PEFT scripts: BOS (when the tokenizer has one) +
// prompt is cut to `source_max_len` tokens and response + EOS to
// `target_max_len` (so a long response loses its EOS), each on its own; the
// whole example is then cut to `max_len` (the context). Examples keep the
// file's order.
absl::StatusOr<std::vector<InstructionExample>> LoadInstructionJsonl(
    const std::string& path, const Tokenizer& tokenizer, int64_t max_len,
    int64_t source_max_len = 384, int64_t target_max_len = 128);

// The Alpaca prompt (everything before the response) for one example.
std::string AlpacaPrompt(const std::string& instruction, const std::string& input);

}  // namespace eqat

#endif  // EQAT_COMMON_TEXT_DATA_H_
