// One packed block per file: how workers hand finished blocks to the
// coordinator through the job's shared folder (job_dir/blocks). Each file is
// a safetensors with the block's tensors under their Hugging Face names
// (model.layers.I.*: qweight/qzeros/scales/g_idx/bias, the norms, Qwen3's q/k norms) and
// metadata {"eqat_block", "bits", "group_size"}; written atomically.
// Thread-safety: pure functions.
#ifndef EQAT_WORKER_STAGE_BLOCK_FILES_H_
#define EQAT_WORKER_STAGE_BLOCK_FILES_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/json.h"
#include "worker/model/llama_model.h"

namespace eqat {

std::string BlockFilePath(const std::string& job_dir, int block);

// REQUIRES: every linear of `b` in Mode::kPacked. Returns the FNV-1a 64
// checksum of the written file.
absl::StatusOr<uint64_t> WriteBlockFile(const std::string& path, const Block& b, int index,
                                        const kernels::QuantSpec& spec);

// Reads block `index` back (packed), validating shapes against `config`;
// when `expect_checksum` is non-zero the file's checksum must match.
// A checksum mismatch is DataLoss carrying the block index as the payload
// kCorruptBlockPayload; CorruptBlockOf reads it back (nullopt otherwise).
inline constexpr char kCorruptBlockPayload[] = "type.eqat.dev/corrupt-block";
std::optional<int> CorruptBlockOf(const absl::Status& status);

absl::StatusOr<Block> ReadBlockFile(const std::string& path, const ModelConfig& config, int index,
                                    const kernels::QuantSpec& spec, uint64_t expect_checksum = 0);

uint64_t Fnv1a64(const std::string& bytes);

// The checksum recorded for `block`, 0 (do not check) when none is.
uint64_t RecordedChecksum(const std::map<int, uint64_t>& checksums, int block);

// Beside each block file, its Block-AP / GPTQ report (losses, attempts; no
// timings, so reruns write the same bytes): job_dir/blocks/block_I.json.
// Finalize gathers them into the output's eqat.json.
std::string BlockReportPath(const std::string& job_dir, int block);
absl::Status WriteBlockReport(const std::string& job_dir, const Json& report);
// The report of `block`; null when the file is absent.
absl::StatusOr<Json> ReadBlockReport(const std::string& job_dir, int block);

}  // namespace eqat

#endif  // EQAT_WORKER_STAGE_BLOCK_FILES_H_
