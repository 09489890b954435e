#include "common/tokenizer.h"

#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/hf_tokenizer/hf_tokenizer.h"
#include "common/json.h"
#include "common/spm_shim/spm_shim.h"

#ifndef EQAT_SPM_SHIM_PATH
#define EQAT_SPM_SHIM_PATH "libeqat_spm.so"
#endif

namespace eqat {
namespace {

// The shim's entry points, resolved once per process.
struct SpmApi {
  decltype(&eqat_spm_load) load = nullptr;
  decltype(&eqat_spm_free) free_handle = nullptr;
  decltype(&eqat_spm_encode) encode = nullptr;
  decltype(&eqat_spm_decode) decode = nullptr;
  decltype(&eqat_spm_piece_size) piece_size = nullptr;
  decltype(&eqat_spm_bos_id) bos_id = nullptr;
  decltype(&eqat_spm_eos_id) eos_id = nullptr;
};

std::string ExeDir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string p(buf, n);
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

absl::StatusOr<const SpmApi*> LoadApi() {
  static std::once_flag once;
  static SpmApi api;
  static std::string error;
  std::call_once(once, [] {
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("EQAT_SPM_SHIM")) candidates.push_back(env);
    candidates.push_back(EQAT_SPM_SHIM_PATH);
    std::string exe = ExeDir();
    candidates.push_back(exe + "/libeqat_spm.so");
    candidates.push_back(exe + "/../common/libeqat_spm.so");
    candidates.push_back(exe + "/../lib/libeqat_spm.so");
    void* lib = nullptr;
    for (const std::string& c : candidates) {
      lib = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (lib != nullptr) break;
      error = dlerror();
    }
    if (lib == nullptr) return;
    api.load = reinterpret_cast<decltype(api.load)>(dlsym(lib, "eqat_spm_load"));
    api.free_handle = reinterpret_cast<decltype(api.free_handle)>(dlsym(lib, "eqat_spm_free"));
    api.encode = reinterpret_cast<decltype(api.encode)>(dlsym(lib, "eqat_spm_encode"));
    api.decode = reinterpret_cast<decltype(api.decode)>(dlsym(lib, "eqat_spm_decode"));
    api.piece_size = reinterpret_cast<decltype(api.piece_size)>(dlsym(lib, "eqat_spm_piece_size"));
    api.bos_id = reinterpret_cast<decltype(api.bos_id)>(dlsym(lib, "eqat_spm_bos_id"));
    api.eos_id = reinterpret_cast<decltype(api.eos_id)>(dlsym(lib, "eqat_spm_eos_id"));
    if (!api.load || !api.free_handle || !api.encode || !api.decode || !api.piece_size ||
        !api.bos_id || !api.eos_id) {
      api.load = nullptr;
      error = "libeqat_spm.so lacks an entry point";
    }
  });
  if (api.load == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("tokenizer: cannot load libeqat_spm.so (set EQAT_SPM_SHIM): ", error));
  }
  return &api;
}

}  // namespace

Tokenizer::~Tokenizer() {
  if (handle_ != nullptr) static_cast<const SpmApi*>(api_)->free_handle(handle_);
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::LoadFromDir(const std::string& dir) {
  if (!IsDirectory(dir)) {
    return absl::NotFoundError(absl::StrCat(dir, ": not a directory (tokenizer folder)"));
  }
  const std::string json_path = JoinPath(dir, "tokenizer.json");
  const std::string spm_path = JoinPath(dir, "tokenizer.model");
  if (PathExists(json_path)) {
    absl::StatusOr<std::unique_ptr<HfTokenizer>> hf = HfTokenizer::LoadFromDir(dir);
    if (!hf.ok()) return hf.status();
    std::unique_ptr<Tokenizer> tok(new Tokenizer());
    tok->hf_ = std::move(*hf);
    tok->source_ = "tokenizer.json";
    return tok;
  }
  if (!PathExists(spm_path)) {
    return absl::NotFoundError(
        absl::StrCat(dir, ": has neither tokenizer.json nor tokenizer.model"));
  }
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Load(spm_path);
  if (!tok.ok()) return tok.status();
  // Llama-2's tokenizer_config.json says whether BOS/EOS are added.
  const std::string config_path = JoinPath(dir, "tokenizer_config.json");
  if (PathExists(config_path)) {
    absl::StatusOr<std::string> text = ReadFile(config_path);
    if (!text.ok()) return text.status();
    absl::StatusOr<Json> j = ParseJson(*text);
    if (!j.ok() || !j->is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(config_path, ": not a JSON object",
                       j.ok() ? "" : absl::StrCat(" (", j.status().message(), ")")));
    }
    for (auto [key, dst] : {std::pair<const char*, bool*>{"add_bos_token", &(*tok)->spm_add_bos_},
                            std::pair<const char*, bool*>{"add_eos_token", &(*tok)->spm_add_eos_}}) {
      auto it = j->find(key);
      if (it == j->end() || it->is_null()) continue;
      if (!it->is_boolean()) {
        return absl::InvalidArgumentError(
            absl::StrCat(config_path, ": ", key, " must be true or false"));
      }
      *dst = it->get<bool>();
    }
  }
  return tok;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& path) {
  if (!PathExists(path)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file (tokenizer model)"));
  }
  if (IsDirectory(path)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": is a directory, expected a sentencepiece tokenizer.model"));
  }
  absl::StatusOr<const SpmApi*> api = LoadApi();
  if (!api.ok()) return api.status();
  char err[512] = {0};
  void* h = (*api)->load(path.c_str(), err, sizeof(err));
  if (h == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a sentencepiece model: ", err));
  }
  if ((*api)->piece_size(h) <= 0) {
    (*api)->free_handle(h);
    return absl::InvalidArgumentError(absl::StrCat(path, ": sentencepiece model has no pieces"));
  }
  std::unique_ptr<Tokenizer> tok(new Tokenizer());
  tok->handle_ = h;
  tok->api_ = *api;
  return tok;
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(std::string_view text) const {
  if (hf_ != nullptr) {
    absl::StatusOr<HfTokenizer::Encoding> e = hf_->Encode(text, /*add_special_tokens=*/false);
    if (!e.ok()) return e.status();
    return std::move(e->ids);
  }
  const SpmApi* api = static_cast<const SpmApi*>(api_);
  int32_t* ids = nullptr;
  size_t n = 0;
  char err[512] = {0};
  if (api->encode(handle_, text.data(), text.size(), &ids, &n, err, sizeof(err)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer: encode failed: ", err));
  }
  std::vector<int32_t> out(ids, ids + n);
  std::free(ids);
  return out;
}

absl::StatusOr<Tokenizer::Encoded> Tokenizer::EncodeWith(std::string_view text,
                                                         bool add_special_tokens) const {
  Encoded out;
  if (hf_ != nullptr) {
    absl::StatusOr<HfTokenizer::Encoding> e = hf_->Encode(text, add_special_tokens);
    if (!e.ok()) return e.status();
    out.ids = std::move(e->ids);
    out.replaced_invalid_utf8 = e->replaced_invalid_utf8;
    return out;
  }
  absl::StatusOr<std::vector<int32_t>> ids = Encode(text);
  if (!ids.ok()) return ids.status();
  if (add_special_tokens && spm_add_bos_ && bos_id() >= 0) out.ids.push_back(bos_id());
  out.ids.insert(out.ids.end(), ids->begin(), ids->end());
  if (add_special_tokens && spm_add_eos_ && eos_id() >= 0) out.ids.push_back(eos_id());
  return out;
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids) const {
  if (hf_ != nullptr) return hf_->Decode(ids, /*skip_special_tokens=*/false);
  const SpmApi* api = static_cast<const SpmApi*>(api_);
  const int n = api->piece_size(handle_);
  std::vector<int32_t> in;
  in.reserve(ids.size());
  // sentencepiece rejects out-of-range ids for the whole call; skip them.
  for (int32_t id : ids) {
    if (id >= 0 && id < n) in.push_back(id);
  }
  char* out = nullptr;
  size_t len = 0;
  if (api->decode(handle_, in.data(), in.size(), &out, &len) != 0) return "";
  std::string s(out, len);
  std::free(out);
  return s;
}

int Tokenizer::vocab_size() const {
  if (hf_ != nullptr) return hf_->vocab_size();
  return static_cast<const SpmApi*>(api_)->piece_size(handle_);
}
int Tokenizer::bos_id() const {
  if (hf_ != nullptr) return hf_->bos_id().value_or(-1);
  return static_cast<const SpmApi*>(api_)->bos_id(handle_);
}
int Tokenizer::eos_id() const {
  if (hf_ != nullptr) return hf_->eos_id().value_or(-1);
  return static_cast<const SpmApi*>(api_)->eos_id(handle_);
}

}  // namespace eqat
