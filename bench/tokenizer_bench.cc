// tokenizer_bench: time HfTokenizer::Encode on a text file, one thread.
//   tokenizer_bench [TOKENIZER_DIR] [TEXT_FILE] [REPEATS]
// defaults: tests/data/tokenizers/qwen3, data/wikitext2_test.raw, 5.
// Pin it to one core to compare with the Rust library: taskset -c 0 ...
// Prints load time, then per run tokens, seconds, tokens/s and MB/s; the
// first run fills the BPE cache, the best run is reported last.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "common/hf_tokenizer/hf_tokenizer.h"

int main(int argc, char** argv) {
  std::string dir = argc > 1 ? argv[1] : "tests/data/tokenizers/qwen3";
  std::string path = argc > 2 ? argv[2] : "data/wikitext2_test.raw";
  int repeats = argc > 3 ? std::atoi(argv[3]) : 5;
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  auto tok = eqat::HfTokenizer::LoadFromDir(dir);
  if (!tok.ok()) {
    std::fprintf(stderr, "%s\n", tok.status().ToString().c_str());
    return 1;
  }
  double load_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "%s: cannot open\n", path.c_str());
    return 1;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::printf("load %.3f s, text %zu bytes\n", load_s, text.size());
  double best = 1e30;
  size_t tokens = 0;
  for (int r = 0; r < repeats; ++r) {
    auto t1 = Clock::now();
    auto enc = (*tok)->Encode(text, /*add_special_tokens=*/false);
    double s = std::chrono::duration<double>(Clock::now() - t1).count();
    if (!enc.ok()) {
      std::fprintf(stderr, "%s\n", enc.status().ToString().c_str());
      return 1;
    }
    tokens = enc->ids.size();
    best = std::min(best, s);
    std::printf("run %d: tokens %zu seconds %.4f tokens/s %.0f MB/s %.2f\n", r, tokens, s,
                tokens / s, text.size() / s / 1e6);
  }
  std::printf("best: tokens %zu seconds %.4f tokens/s %.0f\n", tokens, best, tokens / best);
  return 0;
}
