/* C ABI over sentencepiece, built as its own shared library (libeqat_spm.so)
 * and loaded with dlopen(RTLD_LOCAL | RTLD_DEEPBIND) by common/tokenizer.cc.
 *
 * Why: Debian's libsentencepiece embeds a private copy of protobuf and
 * exports its symbols. In a process that also loads the system libprotobuf
 * (LibTorch, gRPC), the two copies interpose each other and the process
 * crashes during static initialisation. Loading sentencepiece in a local,
 * deep-bound scope keeps each copy to itself.
 * Thread-safety: a handle may be used concurrently for encode/decode. */
#ifndef EQAT_COMMON_SPM_SHIM_SPM_SHIM_H_
#define EQAT_COMMON_SPM_SHIM_SPM_SHIM_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Returns a handle or NULL with a message in err. */
void* eqat_spm_load(const char* path, char* err, size_t errlen);
void eqat_spm_free(void* h);
/* On success returns 0 and a malloc'ed array in *ids (free with free()). */
int eqat_spm_encode(void* h, const char* text, size_t len, int32_t** ids, size_t* n, char* err,
                    size_t errlen);
/* On success returns 0 and a malloc'ed string in *out (free with free()). */
int eqat_spm_decode(void* h, const int32_t* ids, size_t n, char** out, size_t* outlen);
int eqat_spm_piece_size(void* h);
int eqat_spm_bos_id(void* h);
int eqat_spm_eos_id(void* h);

#ifdef __cplusplus
}
#endif

#endif  /* EQAT_COMMON_SPM_SHIM_SPM_SHIM_H_ */
