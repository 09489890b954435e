// safetensors reading (mmap, single file or sharded index) and writing
// (8-byte aligned header, atomic temp+rename).
//
// Format: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"k": "v"}}, then the data section; offsets are relative to
// the data section start.
//
// Validation on open (each failure is InvalidArgument naming file and tensor):
// file >= 8 bytes; N <= 100 MiB and 8+N <= file size; header is a JSON object;
// every entry has a known dtype, a shape of non-negative integers, and
// data_offsets [begin,end] with end-begin == numel*dtype size, end <= data
// size; tensors do not overlap. Unknown top-level keys other than
// __metadata__ (whose values must be strings) are refused.
//
// Thread-safety: an opened file/model is immutable; concurrent reads are safe.
#ifndef EQAT_COMMON_SAFETENSORS_H_
#define EQAT_COMMON_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace eqat {

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

size_t DTypeSize(DType d);
std::string_view DTypeName(DType d);  // "F32", "BF16", "I32", ...
absl::StatusOr<DType> ParseDType(std::string_view name);

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offset within the data section
  uint64_t end = 0;
  int64_t numel() const;
  uint64_t nbytes() const { return end - begin; }
};

// A read-only view of one tensor's bytes. `data` points into a mapping owned
// by the SafetensorsFile/SafetensorsModel it came from; it lives as long as
// that object.
struct TensorView {
  const TensorInfo* info = nullptr;
  const uint8_t* data = nullptr;
};

class SafetensorsFile {
 public:
  // Maps `path` read-only and validates the header (see top of file).
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // Tensors in header order.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorInfo* Find(std::string_view name) const;
  // NotFound naming the tensor and file when absent.
  absl::StatusOr<TensorView> Get(std::string_view name) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
  const uint8_t* map_ = nullptr;  // whole file
  size_t map_size_ = 0;
  const uint8_t* data_ = nullptr;  // data section start
};

// All weights of a model folder: `model.safetensors`, or
// `model.safetensors.index.json` ({"weight_map": {name: shard file}}) whose
// shards are opened and cross-checked (each mapped tensor must exist in its
// shard). Also accepts a path to a single .safetensors file.
class SafetensorsModel {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsModel>> Open(const std::string& path);

  std::vector<std::string> names() const;  // sorted
  bool Has(std::string_view name) const;
  const TensorInfo* Find(std::string_view name) const;
  absl::StatusOr<TensorView> Get(std::string_view name) const;
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*, std::less<>> where_;
};

// One tensor to write; `data` must hold numel*DTypeSize(dtype) bytes.
struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::string data;  // raw little-endian bytes
};

// Writes tensors in the given order, header padded with spaces to a multiple
// of 8, metadata under "__metadata__" (omitted when empty). Atomic: temp file
// in the same directory, fsync, rename. InvalidArgument on duplicate names or
// size mismatch; the destination is untouched on any error.
absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

// Helpers for 16-bit floats stored on disk.
float HalfToFloat(uint16_t h);
uint16_t FloatToHalf(float f);  // round-to-nearest-even
float BFloat16ToFloat(uint16_t b);
uint16_t FloatToBFloat16(float f);  // round-to-nearest-even

}  // namespace eqat

#endif  // EQAT_COMMON_SAFETENSORS_H_
