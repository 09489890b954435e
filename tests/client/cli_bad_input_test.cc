// End-to-end checks of the rule "bad input gets a clear error and loses
// nothing": the real `eqat` binary is run on broken models, bad flags and bad
// paths; each case must exit 2 with a message naming the problem, and a
// quantize run must leave no output folder and no temp folder behind.
#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/file_util.h"
#include "common/json.h"
#include "common/safetensors.h"
#include "tests/client/cli_runner.h"

namespace eqat {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

const std::string& Root() {
  static const std::string* r =
      new std::string(JoinPath(::testing::TempDir(), absl::StrCat("eqat_cli_bad_", getpid())));
  return *r;
}
std::string Src(const std::string& rel) { return JoinPath(EQAT_SOURCE_DIR, rel); }
std::string SrcModel() { return Src("models/stories260K"); }
using cli_test::RunEqat;
using cli_test::RunResult;

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  closedir(d);
  return out;
}

std::string MustRead(const std::string& path) {
  auto s = ReadFile(path);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : std::string();
}

void MustWrite(const std::string& path, const std::string& bytes) {
  absl::Status st = WriteFileAtomic(path, bytes);
  ASSERT_TRUE(st.ok()) << st;
}

// A model folder under Root(): config.json and tokenizer.model copied from
// stories260K (config optionally edited), with the given safetensors bytes.
void MakeModelDir(const std::string& name, const std::string& safetensors,
                  const std::string& config) {
  std::string dir = JoinPath(Root(), name);
  ASSERT_TRUE(MakeDirs(dir).ok());
  MustWrite(JoinPath(dir, "config.json"), config);
  MustWrite(JoinPath(dir, "tokenizer.model"), MustRead(JoinPath(SrcModel(), "tokenizer.model")));
  MustWrite(JoinPath(dir, "model.safetensors"), safetensors);
}

// The real tensors, as TensorToWrite, for editing.
std::vector<TensorToWrite> RealTensors() {
  std::vector<TensorToWrite> out;
  auto f = SafetensorsFile::Open(JoinPath(SrcModel(), "model.safetensors"));
  EXPECT_TRUE(f.ok()) << f.status();
  if (!f.ok()) return out;
  for (const TensorInfo& t : (*f)->tensors()) {
    auto v = (*f)->Get(t.name);
    EXPECT_TRUE(v.ok()) << v.status();
    if (!v.ok()) continue;
    out.push_back({t.name, t.dtype, t.shape,
                   std::string(reinterpret_cast<const char*>(v->data), t.nbytes())});
  }
  return out;
}

std::string SafetensorsBytes(const std::vector<TensorToWrite>& tensors) {
  std::string tmp = JoinPath(Root(), "scratch.safetensors");
  absl::Status st = WriteSafetensors(tmp, tensors, {{"format", "pt"}});
  EXPECT_TRUE(st.ok()) << st;
  std::string bytes = MustRead(tmp);
  RemoveAll(tmp).IgnoreError();
  return bytes;
}

std::string WithHeaderLength(std::string bytes, uint64_t n) {
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return bytes;
}

struct Case {
  const char* name;
  std::vector<std::string> args;   // {root}, {out}, {src} are substituted
  std::vector<std::string> expect;  // substrings the output must contain
  enum OutKind { kNoOut, kAbsent, kPrecreatedEmpty, kNonEmpty } out = kNoOut;
  bool needs_non_root = false;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class CliBadInputTest : public ::testing::TestWithParam<Case> {
 public:
  static void SetUpTestSuite() {
    ASSERT_TRUE(RemoveAll(Root()).ok());
    ASSERT_TRUE(MakeDirs(Root()).ok());
    const std::string real = MustRead(JoinPath(SrcModel(), "model.safetensors"));
    const std::string config = MustRead(JoinPath(SrcModel(), "config.json"));
    ASSERT_GT(real.size(), 1000u);

    MakeModelDir("truncated", real.substr(0, 100), config);
    MakeModelDir("oversized_header", WithHeaderLength(real, real.size() + 4096), config);
    MakeModelDir("huge_header", WithHeaderLength(real, uint64_t{1} << 40), config);
    {
      uint64_t n = 0;
      for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(real[i]);
      std::string bad = real;
      std::string junk = "this is not json at all ";
      for (uint64_t i = 0; i < n; ++i) bad[8 + i] = junk[i % junk.size()];
      MakeModelDir("not_json", bad, config);
    }
    std::vector<TensorToWrite> base = RealTensors();
    ASSERT_EQ(base.size(), 47u);
    {
      auto t = base;
      for (auto& w : t) {
        if (w.name == "model.layers.0.mlp.up_proj.weight") w.dtype = DType::kI32;  // same size
      }
      MakeModelDir("wrong_dtype", SafetensorsBytes(t), config);
    }
    {
      std::vector<TensorToWrite> t;
      for (auto& w : base) {
        if (w.name != "model.layers.2.self_attn.k_proj.weight") t.push_back(w);
      }
      ASSERT_EQ(t.size(), 46u);
      MakeModelDir("missing_tensor", SafetensorsBytes(t), config);
    }
    {
      auto t = base;
      for (auto& w : t) {
        if (w.name == "model.norm.weight") {
          w.shape = {32};
          w.data.resize(32 * 4);
        }
      }
      MakeModelDir("misshaped", SafetensorsBytes(t), config);
    }
    std::string gpt2 = absl::StrReplaceAll(config, {{"\"llama\"", "\"gpt2\""}});
    ASSERT_NE(gpt2, config);
    MakeModelDir("gpt2", real, gpt2);
    std::string vocab600 =
        absl::StrReplaceAll(config, {{"\"vocab_size\": 512", "\"vocab_size\": 600"}});
    ASSERT_NE(vocab600, config);
    MakeModelDir("vocab_mismatch", real, vocab600);
    // tokenizer.json, which wins over tokenizer.model: truncated, with a
    // component eqat does not implement, and one whose ids exceed the model's
    // 512-row embedding (the real Qwen3 tokenizer).
    {
      const std::string tj = MustRead(Src("tests/data/tokenizers/llama2_converted/tokenizer.json"));
      MakeModelDir("tokenizer_json_truncated", real, config);
      MustWrite(JoinPath(Root(), "tokenizer_json_truncated/tokenizer.json"), tj.substr(0, tj.size() / 3));
      std::string wp = tj;
      const size_t at = wp.find("\"BPE\"");
      ASSERT_NE(at, std::string::npos);
      wp.replace(at, 5, "\"WordPiece\"");
      MakeModelDir("tokenizer_json_wordpiece", real, config);
      MustWrite(JoinPath(Root(), "tokenizer_json_wordpiece/tokenizer.json"), wp);
      MakeModelDir("tokenizer_json_qwen3", real, config);
      MustWrite(JoinPath(Root(), "tokenizer_json_qwen3/tokenizer.json"),
                MustRead(Src("tests/data/tokenizers/qwen3/tokenizer.json")));
    }

    MustWrite(JoinPath(Root(), "a_file.txt"), "not a folder\n");
    MustWrite(JoinPath(Root(), "small_eval.txt"),
              MustRead(Src("data/wikitext2_test.raw")).substr(0, 4000));
    MustWrite(JoinPath(Root(), "calib_000.txt"), "Once upon a time there was a cat.\n");
    ASSERT_EQ(chmod(JoinPath(Root(), "calib_000.txt").c_str(), 0), 0);
  }
  static void TearDownTestSuite() {
    chmod(JoinPath(Root(), "calib_000.txt").c_str(), 0644);
    RemoveAll(Root()).IgnoreError();
  }
};

TEST_P(CliBadInputTest, ExitsTwoNamesProblemLeavesNothing) {
  const Case& c = GetParam();
  if (c.needs_non_root && geteuid() == 0) GTEST_SKIP() << "root can read mode-000 files";
  const std::string out = JoinPath(Root(), absl::StrCat("out_", c.name));
  const std::string keep = JoinPath(out, "keep.txt");
  const std::string keep_bytes = "precious bytes, must survive\n";
  if (c.out == Case::kPrecreatedEmpty || c.out == Case::kNonEmpty) {
    ASSERT_TRUE(MakeDirs(out).ok());
    if (c.out == Case::kNonEmpty) MustWrite(keep, keep_bytes);
  }
  std::vector<std::string> args;
  for (const std::string& a : c.args) {
    args.push_back(absl::StrReplaceAll(
        a, {{"{root}", Root()}, {"{out}", out}, {"{src}", std::string(EQAT_SOURCE_DIR)}}));
  }
  RunResult r = RunEqat(args);
  EXPECT_EQ(r.signal, 0) << "crashed:\n" << r.output;
  EXPECT_EQ(r.exit_code, 2) << r.output;
  for (const std::string& e : c.expect) EXPECT_THAT(r.output, HasSubstr(e));
  EXPECT_THAT(r.output, Not(HasSubstr("terminate called")));
  EXPECT_THAT(r.output, Not(HasSubstr("Exception raised")));

  switch (c.out) {
    case Case::kNoOut:
      break;
    case Case::kAbsent:
      EXPECT_FALSE(PathExists(out)) << out << " was created";
      break;
    case Case::kPrecreatedEmpty:
      EXPECT_TRUE(IsDirectory(out));
      EXPECT_TRUE(ListDir(out).empty()) << "files written into " << out;
      break;
    case Case::kNonEmpty:
      EXPECT_EQ(ListDir(out), std::vector<std::string>{"keep.txt"});
      EXPECT_EQ(MustRead(keep), keep_bytes);
      break;
  }
  const std::string prefix = absl::StrCat("out_", c.name, ".tmp");
  for (const std::string& n : ListDir(Root())) {
    EXPECT_FALSE(n.rfind(prefix, 0) == 0) << "temp folder left behind: " << n;
  }
}

using K = Case::OutKind;
const std::vector<std::string> kRtn = {"--method", "rtn", "--bits", "4", "--group", "-1"};
std::vector<std::string> Q(const std::string& model, std::vector<std::string> extra = kRtn) {
  std::vector<std::string> a = {"quantize", "--model", model, "--out", "{out}"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}
std::vector<std::string> Gptq(std::vector<std::string> extra) {
  std::vector<std::string> a = {"--method", "gptq", "--samples", "2", "--seqlen", "32",
                                "--bits",   "4",    "--group",   "-1"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}
const std::string kModel = "{src}/models/stories260K";
const std::string kWiki = "{src}/data/wikitext2_test.raw";
const std::string kCalib = "{src}/data/calib_en.txt";

const Case kCases[] = {
    // Broken safetensors.
    {"truncated", Q("{root}/truncated"), {"truncated", "header"}, K::kAbsent},
    {"oversized_header", Q("{root}/oversized_header"), {"header length", "file size"}, K::kAbsent},
    {"huge_header", Q("{root}/huge_header"), {"header length", "limit"}, K::kAbsent},
    {"not_json", Q("{root}/not_json"), {"header", "JSON"}, K::kAbsent},
    {"wrong_dtype", Q("{root}/wrong_dtype"), {"model.layers.0.mlp.up_proj.weight", "dtype"},
     K::kAbsent},
    {"missing_tensor", Q("{root}/missing_tensor"), {"model.layers.2.self_attn.k_proj.weight"},
     K::kAbsent},
    {"misshaped", Q("{root}/misshaped"), {"model.norm.weight", "shape"}, K::kAbsent},
    {"gpt2_config", Q("{root}/gpt2"), {"model_type", "gpt2", "qwen3"}, K::kAbsent},
    {"eval_gpt2_config", {"eval", "--model", "{root}/gpt2", "--text", kWiki, "--max-windows",
                          "1", "--seqlen", "32"}, {"config.json", "model_type 'gpt2'"}},
    // config.json's vocab_size against the embedding's rows (512).
    {"vocab_mismatch", Q("{root}/vocab_mismatch"),
     {"config.json", "vocab_size 600", "512 rows", "model.embed_tokens.weight"}, K::kAbsent},
    {"eval_vocab_mismatch", {"eval", "--model", "{root}/vocab_mismatch", "--text", kWiki,
                             "--max-windows", "1", "--seqlen", "32"},
     {"vocab_size 600", "model.embed_tokens.weight"}},
    {"tokenizer_json_truncated", Q("{root}/tokenizer_json_truncated", Gptq({"--calib", kCalib})),
     {"tokenizer.json", "invalid JSON"}, K::kAbsent},
    {"eval_tokenizer_json_truncated", {"eval", "--model", "{root}/tokenizer_json_truncated",
                                       "--text", kWiki, "--max-windows", "1", "--seqlen", "32"},
     {"tokenizer.json", "invalid JSON"}},
    {"tokenizer_json_wordpiece", Q("{root}/tokenizer_json_wordpiece", Gptq({"--calib", kCalib})),
     {"tokenizer.json", "WordPiece", "not supported"}, K::kAbsent},
    {"eval_tokenizer_json_bigger_vocab", {"eval", "--model", "{root}/tokenizer_json_qwen3",
                                          "--text", kWiki, "--max-windows", "1", "--seqlen", "32"},
     {"vocab_size 512"}},
    {"truncated_precreated_out", Q("{root}/truncated"), {"truncated"}, K::kPrecreatedEmpty},
    {"truncated_overwrite_keeps_old", Q("{root}/truncated", {"--method", "rtn", "--overwrite"}),
     {"truncated"}, K::kNonEmpty},
    {"eval_truncated", {"eval", "--model", "{root}/truncated", "--text", kWiki, "--max-windows",
                        "1", "--seqlen", "32"}, {"truncated"}},
    {"eval_wrong_dtype", {"eval", "--model", "{root}/wrong_dtype", "--text", kWiki,
                          "--max-windows", "1", "--seqlen", "32"},
     {"model.layers.0.mlp.up_proj.weight", "dtype"}},
    // Quantization spec.
    {"bits_5", Q(kModel, {"--method", "rtn", "--bits", "5"}), {"bits", "5"}, K::kAbsent},
    {"bits_5_precreated_out", Q(kModel, {"--method", "rtn", "--bits", "5"}), {"bits"},
     K::kPrecreatedEmpty},
    {"group_48", Q(kModel, {"--method", "rtn", "--group", "48"}), {"group", "48"}, K::kAbsent},
    {"group_64_not_divisor", Q(kModel, {"--method", "rtn", "--group", "64"}),
     {"group", "64", "down_proj", "172"}, K::kAbsent},
    {"group_64_gptq", Q(kModel, Gptq({"--calib", kCalib, "--group", "64"})), {"group", "down_proj"},
     K::kAbsent},
    {"zeros_v3", Q(kModel, {"--method", "rtn", "--zeros", "v3"}), {"zeros"}, K::kAbsent},
    {"method_unknown", Q(kModel, {"--method", "awq"}), {"method"}, K::kAbsent},
    // Output formats: what a format cannot hold is refused before any work.
    {"format_unknown", Q(kModel, {"--method", "rtn", "--format", "gguf"}), {"--format", "gguf"},
     K::kAbsent},
    {"awq_2bit", Q(kModel, {"--method", "rtn", "--bits", "2", "--group", "-1", "--format", "awq"}),
     {"--format", "awq", "4-bit"}, K::kAbsent},
    {"awq_2bit_precreated_out",
     Q(kModel, {"--method", "rtn", "--bits", "2", "--group", "-1", "--format", "awq"}),
     {"--format", "4-bit"}, K::kPrecreatedEmpty},
    {"awq_out_features_172", Q(kModel, {"--method", "rtn", "--group", "-1", "--format", "awq"}),
     {"--format", "gate_proj", "172"}, K::kAbsent},
    {"zeros_v1_with_compressed_tensors",
     Q(kModel, {"--method", "rtn", "--group", "-1", "--format", "compressed-tensors", "--zeros",
                "v1"}),
     {"--zeros", "gptq"}, K::kAbsent},
    {"format_unwritable_out",
     {"quantize", "--model", kModel, "--out", "{root}/a_file.txt/out", "--method", "rtn",
      "--group", "-1", "--format", "compressed-tensors"},
     {"out"}},
    {"convert_fp_model", {"convert", "--model", kModel, "--out", "{out}", "--format", "awq"},
     {"--model", "not quantized"}, K::kAbsent},
    // Missing / unreadable paths.
    {"quantize_model_missing", Q("/nonexistent/eqat/model"), {"--model", "/nonexistent/eqat/model"},
     K::kAbsent},
    {"eval_model_missing", {"eval", "--model", "/nonexistent", "--text", kWiki}, {"--model"}},
    {"model_dir_without_config", Q("{root}"), {"config.json"}, K::kAbsent},
    {"calib_missing", Q(kModel, Gptq({"--calib", "{root}/no_such_calib.txt"})),
     {"--calib", "no_such_calib.txt"}, K::kAbsent},
    {"calib_required_for_gptq", Q(kModel, Gptq({})), {"--calib"}, K::kAbsent},
    {"calib_is_directory", Q(kModel, Gptq({"--calib", "{root}"})), {"--calib", "directory"},
     K::kAbsent},
    {"calib_unreadable", Q(kModel, Gptq({"--calib", "{root}/calib_000.txt"})), {"--calib"},
     K::kAbsent, /*needs_non_root=*/true},
    {"eval_text_missing", Q(kModel, {"--method", "rtn", "--eval-text", "{root}/no_such.txt"}),
     {"--eval-text", "no_such.txt"}, K::kAbsent},
    {"eval_text_flag_missing", {"eval", "--model", kModel, "--max-windows", "1"}, {"--text"}},
    {"eval_text_file_missing",
     {"eval", "--model", kModel, "--text", "{root}/nope.raw", "--max-windows", "1"},
     {"--text", "nope.raw"}},
    {"out_parent_missing",
     {"quantize", "--model", kModel, "--out", "{root}/no_parent/sub/out", "--method", "rtn"},
     {"out", "parent", "does not exist"}},
    {"out_required", {"quantize", "--model", kModel, "--method", "rtn"}, {"--out"}},
    {"out_is_a_file", {"quantize", "--model", kModel, "--out", "{root}/a_file.txt", "--method",
                       "rtn"}, {"out", "a_file.txt", "file"}},
    {"out_not_empty", Q(kModel, {"--method", "rtn"}), {"--out", "not empty", "--overwrite"},
     K::kNonEmpty},
    {"out_inside_model",
     {"quantize", "--model", kModel, "--out", "{src}/models/stories260K/q", "--method", "rtn"},
     {"--out", "inside the source model folder"}},
    // Flags.
    {"unknown_flag", Q(kModel, {"--method", "rtn", "--bogus"}), {"--bogus"}, K::kAbsent},
    {"unknown_flag_with_value", {"eval", "--bogus=1", "--model", kModel}, {"--bogus"}},
    {"other_commands_flag", {"eval", "--model", kModel, "--text", kWiki, "--bits", "4"},
     {"--bits"}},
    {"seqlen_not_a_number", Q(kModel, Gptq({"--calib", kCalib, "--seqlen", "abc"})),
     {"seqlen", "abc"}, K::kAbsent},
    {"eval_seqlen_not_a_number", {"eval", "--model", kModel, "--text", kWiki, "--seqlen", "abc"},
     {"seqlen"}},
    {"eval_seqlen_too_small",
     {"eval", "--model", kModel, "--text", kWiki, "--seqlen", "1", "--max-windows", "1"},
     {"seqlen"}},
    {"seqlen_beyond_max_position", Q(kModel, Gptq({"--calib", kCalib, "--seqlen", "100000"})),
     {"seqlen"}, K::kAbsent},
    {"eval_seqlen_beyond_max_position",
     {"eval", "--model", kModel, "--text", kWiki, "--seqlen", "100000", "--max-windows", "1"},
     {"seqlen"}},
    // Flags of the post-quantization eval are checked before any work.
    {"quantize_eval_seqlen_too_small",
     Q(kModel, {"--method", "rtn", "--group", "-1", "--eval-text", "{root}/small_eval.txt",
                "--eval-seqlen", "1"}),
     {"eval-seqlen"}, K::kAbsent},
    {"quantize_eval_max_windows_negative",
     Q(kModel, {"--method", "rtn", "--group", "-1", "--eval-text", "{root}/small_eval.txt",
                "--eval-seqlen", "128", "--eval-max-windows", "-1"}),
     {"eval-max-windows"}, K::kAbsent},
    {"bits_not_a_number", Q(kModel, {"--method", "rtn", "--bits", "four"}), {"bits"}, K::kAbsent},
    {"missing_value_at_end", {"eval", "--model", kModel, "--text"}, {"--text", "missing value"}},
    {"samples_zero", Q(kModel, Gptq({"--calib", kCalib, "--samples", "0"})), {"samples"},
     K::kAbsent},
    {"unexpected_positional", {"eval", "--model", kModel, "--text", kWiki, "extra"}, {"extra"}},
    {"unknown_command", {"frobnicate", "--model", kModel}, {"unknown command", "frobnicate"}},
    {"no_command", {}, {"usage"}},
};

INSTANTIATE_TEST_SUITE_P(Cases, CliBadInputTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

// Positive control: the same binary quantizes and evaluates the real model.
TEST(CliPositiveControlTest, RtnQuantizeThenEval) {
  std::string dir = JoinPath(::testing::TempDir(), absl::StrCat("eqat_cli_ok_", getpid()));
  ASSERT_TRUE(RemoveAll(dir).ok());
  ASSERT_TRUE(MakeDirs(dir).ok());
  std::string out = JoinPath(dir, "q");
  RunResult q = RunEqat({"quantize", "--model", SrcModel(), "--out", out, "--method", "rtn",
                         "--bits", "4", "--group", "-1"});
  ASSERT_EQ(q.signal, 0) << q.output;
  ASSERT_EQ(q.exit_code, 0) << q.output;
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.model", "eqat.json"}) {
    EXPECT_TRUE(PathExists(JoinPath(out, f))) << f;
  }
  EXPECT_THAT(MustRead(JoinPath(out, "config.json")), HasSubstr("\"quantization_config\""));
  EXPECT_EQ(ListDir(dir), std::vector<std::string>{"q"}) << "temp folder left behind";

  RunResult e = RunEqat({"eval", "--model", out, "--text", Src("data/wikitext2_test.raw"),
                         "--seqlen", "128", "--max-windows", "2", "--json"});
  ASSERT_EQ(e.signal, 0) << e.output;
  ASSERT_EQ(e.exit_code, 0) << e.output;
  std::string s = e.output;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  std::string last = s.substr(s.rfind('\n') == std::string::npos ? 0 : s.rfind('\n') + 1);
  EXPECT_THAT(last, StartsWith("{\"ppl\":")) << e.output;
  RemoveAll(dir).IgnoreError();
}

// eqat convert: a quantized folder rewritten as compressed-tensors and as
// gptq v1 scores the same perplexity; a format that cannot hold the model,
// or an unwritable --out, exits 2 and leaves nothing.
TEST(CliPositiveControlTest, ConvertKeepsPerplexityAndRefusesCleanly) {
  std::string dir = JoinPath(::testing::TempDir(), absl::StrCat("eqat_cli_convert_", getpid()));
  ASSERT_TRUE(RemoveAll(dir).ok());
  ASSERT_TRUE(MakeDirs(dir).ok());
  const std::string q = JoinPath(dir, "q");
  RunResult r = RunEqat({"quantize", "--model", SrcModel(), "--out", q, "--method", "rtn",
                         "--bits", "3", "--group", "-1"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto ppl = [&](const std::string& m) {
    RunResult e = RunEqat({"eval", "--model", m, "--text", Src("data/wikitext2_test.raw"),
                           "--seqlen", "128", "--max-windows", "2", "--json"});
    EXPECT_EQ(e.exit_code, 0) << e.output;
    std::string s = e.output;
    while (!s.empty() && s.back() == '\n') s.pop_back();
    auto j = ParseJson(s.substr(s.rfind('\n') == std::string::npos ? 0 : s.rfind('\n') + 1));
    return j.ok() ? j->value("ppl", -1.0) : -1.0;
  };
  const double base = ppl(q);
  ASSERT_GT(base, 1.0);
  RunResult c = RunEqat({"convert", "--model", q, "--out", JoinPath(dir, "ct"), "--format",
                         "compressed-tensors", "--json"});
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_THAT(MustRead(JoinPath(dir, "ct/config.json")), HasSubstr("\"pack-quantized\""));
  EXPECT_DOUBLE_EQ(ppl(JoinPath(dir, "ct")), base);
  RunResult v1 = RunEqat({"convert", "--model", q, "--out", JoinPath(dir, "v1"), "--zeros", "v1"});
  ASSERT_EQ(v1.exit_code, 0) << v1.output;
  EXPECT_TRUE(PathExists(JoinPath(dir, "v1/quantize_config.json")));
  // v1 differs only where a zero point of 0 had to be re-fitted.
  auto summary = ParseJson(MustRead(JoinPath(dir, "v1/eqat.json")));
  ASSERT_TRUE(summary.ok());
  if (summary->at("export").at("v1_zero_refit").value("rescaled", int64_t{-1}) == 0) {
    EXPECT_DOUBLE_EQ(ppl(JoinPath(dir, "v1")), base);
  }
  RunResult awq = RunEqat({"convert", "--model", q, "--out", JoinPath(dir, "awq"), "--format", "awq"});
  EXPECT_EQ(awq.exit_code, 2) << awq.output;
  EXPECT_THAT(awq.output, HasSubstr("4-bit"));
  EXPECT_FALSE(PathExists(JoinPath(dir, "awq")));
  RunResult bad = RunEqat({"convert", "--model", q, "--out", JoinPath(dir, "q/config.json/x"),
                           "--format", "compressed-tensors"});
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("--out"));
  std::vector<std::string> left = ListDir(dir);
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"ct", "q", "v1"}));
  RemoveAll(dir).IgnoreError();
}

// A trailing slash on --out names the same folder.
TEST(CliPositiveControlTest, OutWithTrailingSlash) {
  std::string dir = JoinPath(::testing::TempDir(), absl::StrCat("eqat_cli_slash_", getpid()));
  ASSERT_TRUE(RemoveAll(dir).ok());
  ASSERT_TRUE(MakeDirs(dir).ok());
  RunResult q = RunEqat({"quantize", "--model", SrcModel(), "--out", JoinPath(dir, "q") + "/",
                         "--method", "rtn", "--bits", "4", "--group", "-1"});
  EXPECT_EQ(q.signal, 0) << q.output;
  EXPECT_EQ(q.exit_code, 0) << q.output;
  EXPECT_TRUE(PathExists(JoinPath(dir, "q/model.safetensors")));
  RemoveAll(dir).IgnoreError();
}

}  // namespace
}  // namespace eqat
