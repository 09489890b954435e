#include "common/text_data.h"

#include <random>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/json.h"
#include "common/status_macros.h"

namespace eqat {
namespace {

// Calls fn(line_number, line) for every line that is not blank. Lines may end
// in "\n" or "\r\n".
template <typename Fn>
absl::Status ForEachJsonLine(const std::string& path, const std::string& text, Fn fn) {
  size_t pos = 0;
  int64_t line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r\n") == std::string_view::npos) continue;
    auto v = ParseJson(line);
    if (!v.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_no, ": invalid JSON: ", v.status().message()));
    }
    if (!v->is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_no, ": expected a JSON object"));
    }
    RETURN_IF_ERROR(fn(line_no, *v));
  }
  return absl::OkStatus();
}

absl::Status LineError(const std::string& path, int64_t line_no, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ":", line_no, ": ", what));
}

absl::StatusOr<std::vector<int32_t>> DecodeBin(const std::string& path, const std::string& data,
                                               int64_t vocab_size, int width) {
  if (width == 0) width = vocab_size <= 65536 ? 2 : 4;
  if (width != 2 && width != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": token_width must be 0, 2 or 4 (got ", width, ")"));
  }
  if (data.size() % width != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": size ", data.size(), " bytes is not a multiple of the token width ", width));
  }
  const size_t n = data.size() / width;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::vector<int32_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    uint64_t v = 0;
    for (int b = width - 1; b >= 0; --b) v = (v << 8) | p[i * width + b];
    if (static_cast<int64_t>(v) >= vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": token ", i, " has id ", v, " >= vocab_size ", vocab_size));
    }
    out[i] = static_cast<int32_t>(v);
  }
  return out;
}

absl::StatusOr<std::string> ReadJsonlText(const std::string& path, const std::string& data) {
  std::string joined;
  bool first = true;
  RETURN_IF_ERROR(ForEachJsonLine(path, data, [&](int64_t line_no, const Json& v) {
    auto t = v.find("text");
    if (t == v.end() || !t->is_string()) {
      return LineError(path, line_no, "missing string field \"text\"");
    }
    if (!first) joined += "\n\n";
    joined += t->get_ref<const std::string&>();
    first = false;
    return absl::OkStatus();
  }));
  return NormalizeNewlines(std::move(joined));
}

}  // namespace

std::string NormalizeNewlines(std::string text) {
  size_t w = 0;
  for (size_t r = 0; r < text.size(); ++r) {
    if (text[r] == '\r' && r + 1 < text.size() && text[r + 1] == '\n') continue;
    text[w++] = text[r];
  }
  text.resize(w);
  return text;
}

absl::StatusOr<std::vector<int32_t>> LoadTokens(const std::string& path,
                                                const Tokenizer& tokenizer,
                                                int64_t vocab_size,
                                                const TokenSourceOptions& options) {
  if (vocab_size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": vocab_size must be positive (got ", vocab_size, ")"));
  }
  ASSIGN_OR_RETURN(std::string data, ReadFile(path));
  std::vector<int32_t> tokens;
  if (absl::EndsWith(path, ".bin")) {
    ASSIGN_OR_RETURN(tokens, DecodeBin(path, data, vocab_size, options.token_width));
  } else {
    std::string text;
    if (absl::EndsWith(path, ".jsonl")) {
      ASSIGN_OR_RETURN(text, ReadJsonlText(path, data));
    } else {
      text = NormalizeNewlines(std::move(data));
    }
    auto enc = tokenizer.Encode(text);
    if (!enc.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", enc.status().message()));
    }
    tokens = std::move(*enc);
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (tokens[i] < 0 || tokens[i] >= vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": token ", i, " has id ", tokens[i], " >= vocab_size ", vocab_size));
      }
    }
  }
  if (tokens.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no tokens"));
  }
  return tokens;
}

absl::StatusOr<std::vector<int32_t>> LoadDocumentTokens(const std::string& path,
                                                        const Tokenizer& tokenizer,
                                                        int64_t vocab_size) {
  if (absl::EndsWith(path, ".bin")) return LoadTokens(path, tokenizer, vocab_size);
  if (vocab_size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": vocab_size must be positive (got ", vocab_size, ")"));
  }
  ASSIGN_OR_RETURN(std::string data, ReadFile(path));
  std::vector<std::string> docs;
  if (absl::EndsWith(path, ".jsonl")) {
    RETURN_IF_ERROR(ForEachJsonLine(path, data, [&](int64_t line_no, const Json& v) {
      auto t = v.find("text");
      if (t == v.end() || !t->is_string()) {
        return LineError(path, line_no, "missing string field \"text\"");
      }
      docs.push_back(NormalizeNewlines(t->get<std::string>()));
      return absl::OkStatus();
    }));
  } else {
    docs.push_back(NormalizeNewlines(std::move(data)));
  }
  std::vector<int32_t> tokens;
  const int bos = tokenizer.bos_id();
  for (const std::string& doc : docs) {
    auto enc = tokenizer.Encode(doc);
    if (!enc.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", enc.status().message()));
    }
    if (bos >= 0) tokens.push_back(bos);
    for (int32_t id : *enc) {
      if (id < 0 || id >= vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": token ", tokens.size(),
                                                       " has id ", id, " >= vocab_size ",
                                                       vocab_size));
      }
      tokens.push_back(id);
    }
  }
  if (tokens.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no tokens"));
  return tokens;
}

std::vector<std::vector<int32_t>> SplitWindows(const std::vector<int32_t>& tokens, int64_t len,
                                               int64_t max_windows) {
  std::vector<std::vector<int32_t>> out;
  if (len <= 0) return out;
  int64_t count = static_cast<int64_t>(tokens.size()) / len;
  if (max_windows > 0 && max_windows < count) count = max_windows;
  out.reserve(count);
  for (int64_t i = 0; i < count; ++i) {
    out.emplace_back(tokens.begin() + i * len, tokens.begin() + (i + 1) * len);
  }
  return out;
}

absl::StatusOr<std::vector<std::vector<int32_t>>> SampleWindows(
    const std::vector<int32_t>& tokens, int64_t n, int64_t len, uint64_t seed) {
  const int64_t size = static_cast<int64_t>(tokens.size());
  if (n < 0 || len <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("SampleWindows: need n >= 0 and len > 0 (got n=", n, ", len=", len, ")"));
  }
  if (size < len + 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SampleWindows: ", size, " tokens are fewer than len + 1 = ", len + 1));
  }
  // rng() % range instead of std::uniform_int_distribution: the latter is
  // implementation-defined, this is the same on every platform.
  std::mt19937_64 rng(seed);
  const uint64_t range = static_cast<uint64_t>(size - len);
  std::vector<std::vector<int32_t>> out;
  out.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t start = static_cast<int64_t>(rng() % range);
    out.emplace_back(tokens.begin() + start, tokens.begin() + start + len);
  }
  return out;
}

std::string AlpacaPrompt(const std::string& instruction, const std::string& input) {
  if (input.empty()) {
    return absl::StrCat(
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request.\n\n### Instruction:\n",
        instruction, "\n\n### Response: ");
  }
  return absl::StrCat(
      "Below is an instruction that describes a task, paired with an input that provides "
      "further context. Write a response that appropriately completes the request.\n\n"
      "### Instruction:\n",
      instruction, "\n\n### Input:\n", input, "\n\n### Response: ");
}

absl::StatusOr<std::vector<InstructionExample>> LoadInstructionJsonl(
    const std::string& path, const Tokenizer& tokenizer, int64_t max_len,
    int64_t source_max_len, int64_t target_max_len) {
  if (max_len <= 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": max_len must be at least 2 (got ", max_len, ")"));
  }
  if (source_max_len < 1 || target_max_len < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": source/target max lengths must be >= 1 (got ", source_max_len, "/",
        target_max_len, ")"));
  }
  const int bos = tokenizer.bos_id();
  const int eos = tokenizer.eos_id();
  // Qwen-style tokenizers have no BOS: the example then starts at the prompt.
  if (eos < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": the tokenizer has no EOS id to end each response"));
  }
  ASSIGN_OR_RETURN(std::string data, ReadFile(path));
  std::vector<InstructionExample> out;
  RETURN_IF_ERROR(ForEachJsonLine(path, data, [&](int64_t line_no, const Json& v) {
    auto instruction = v.find("instruction");
    auto output = v.find("output");
    auto input = v.find("input");
    if (instruction == v.end() || !instruction->is_string()) {
      return LineError(path, line_no, "missing string field \"instruction\"");
    }
    if (output == v.end() || !output->is_string()) {
      return LineError(path, line_no, "missing string field \"output\"");
    }
    if (input != v.end() && !input->is_null() && !input->is_string()) {
      return LineError(path, line_no, "field \"input\" must be a string");
    }
    const std::string input_text =
        (input != v.end() && input->is_string()) ? input->get<std::string>() : std::string();
    auto prompt = tokenizer.Encode(
        AlpacaPrompt(instruction->get_ref<const std::string&>(), input_text));
    if (!prompt.ok()) return LineError(path, line_no, prompt.status().message());
    auto response = tokenizer.Encode(output->get_ref<const std::string&>());
    if (!response.ok()) return LineError(path, line_no, response.status().message());

    InstructionExample ex;
    ex.ids.reserve(prompt->size() + response->size() + 2);
    if (bos >= 0) ex.ids.push_back(bos);
    ex.ids.insert(ex.ids.end(), prompt->begin(), prompt->end());
    if (static_cast<int64_t>(ex.ids.size()) > source_max_len) ex.ids.resize(source_max_len);
    ex.loss_mask.assign(ex.ids.size(), 0);
    std::vector<int32_t> target = std::move(*response);
    target.push_back(eos);
    if (static_cast<int64_t>(target.size()) > target_max_len) target.resize(target_max_len);
    ex.ids.insert(ex.ids.end(), target.begin(), target.end());
    ex.loss_mask.resize(ex.ids.size(), 1);
    if (static_cast<int64_t>(ex.ids.size()) > max_len) {
      ex.ids.resize(max_len);
      ex.loss_mask.resize(max_len);
    }
    out.push_back(std::move(ex));
    return absl::OkStatus();
  }));
  if (out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no instruction examples"));
  }
  return out;
}

}  // namespace eqat
