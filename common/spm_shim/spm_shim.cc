#include "common/spm_shim/spm_shim.h"

#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

void SetErr(char* err, size_t errlen, const std::string& msg) {
  if (err == nullptr || errlen == 0) return;
  std::strncpy(err, msg.c_str(), errlen - 1);
  err[errlen - 1] = '\0';
}

}  // namespace

extern "C" {

void* eqat_spm_load(const char* path, char* err, size_t errlen) {
  auto* sp = new sentencepiece::SentencePieceProcessor();
  auto st = sp->Load(path);
  if (!st.ok()) {
    SetErr(err, errlen, st.ToString());
    delete sp;
    return nullptr;
  }
  return sp;
}

void eqat_spm_free(void* h) { delete static_cast<sentencepiece::SentencePieceProcessor*>(h); }

int eqat_spm_encode(void* h, const char* text, size_t len, int32_t** ids, size_t* n, char* err,
                    size_t errlen) {
  auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(h);
  std::vector<int> v;
  auto st = sp->Encode(std::string(text, len), &v);
  if (!st.ok()) {
    SetErr(err, errlen, st.ToString());
    return 1;
  }
  *n = v.size();
  *ids = static_cast<int32_t*>(std::malloc(sizeof(int32_t) * (v.empty() ? 1 : v.size())));
  for (size_t i = 0; i < v.size(); ++i) (*ids)[i] = v[i];
  return 0;
}

int eqat_spm_decode(void* h, const int32_t* ids, size_t n, char** out, size_t* outlen) {
  auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(h);
  std::vector<int> v(ids, ids + n);
  std::string s;
  if (!sp->Decode(v, &s).ok()) return 1;
  *out = static_cast<char*>(std::malloc(s.size() + 1));
  std::memcpy(*out, s.data(), s.size());
  (*out)[s.size()] = '\0';
  *outlen = s.size();
  return 0;
}

int eqat_spm_piece_size(void* h) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(h)->GetPieceSize();
}
int eqat_spm_bos_id(void* h) { return static_cast<sentencepiece::SentencePieceProcessor*>(h)->bos_id(); }
int eqat_spm_eos_id(void* h) { return static_cast<sentencepiece::SentencePieceProcessor*>(h)->eos_id(); }

}  // extern "C"
