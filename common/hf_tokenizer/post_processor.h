// Post-processors of tokenizer.json ("post_processor"), for a single
// sequence: TemplateProcessing (the "single" template of SpecialToken and
// Sequence items, ids from "special_tokens"), BertProcessing and
// RobertaProcessing ([cls] $A [sep]), ByteLevel (nothing to do on ids) and
// Sequence. The caller applies it only when add_special_tokens is true.
// Thread-safety: immutable after construction; Process is const and
// thread-safe.
#ifndef EQAT_COMMON_HF_TOKENIZER_POST_PROCESSOR_H_
#define EQAT_COMMON_HF_TOKENIZER_POST_PROCESSOR_H_

#include <cstdint>
#include <memory>
#include <optional>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "common/hf_tokenizer/json_fields.h"

namespace eqat::hf {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Rewrites the ids of one encoded sequence.
  virtual void Process(std::vector<int32_t>* ids) const = 0;
  // The first id the processor puts before the sequence, if any (the
  // fallback for bos_id).
  virtual std::optional<int32_t> LeadingId() const = 0;
};

// JSON null gives nullptr. InvalidArgument "<where>: post_processor type 'X'
// is not supported" or naming a bad field.
absl::StatusOr<std::unique_ptr<PostProcessor>> MakePostProcessor(const Json& j,
                                                                 absl::string_view where);

}  // namespace eqat::hf

#endif  // EQAT_COMMON_HF_TOKENIZER_POST_PROCESSOR_H_
