// Wire header of one activation frame, shared by the byte-stream transports
// (TCP) and NCCL. Every frame is a fixed 360-byte header followed by
// `payload_bytes` of raw tensor data (row-major, little-endian host order).
//
// Header layout (little-endian):
//   [0,4)    magic 0x52465145 ("EQFR")      [4]  version (1)
//   [5]      flags: bit0 end_of_stream, bit1 has_tensor; other bits zero
//   [6]      dtype: 0 none, 1 float32, 2 bfloat16, 3 float16
//   [7]      rank (<= 8; 0 without tensor)
//   [8,10)   tag length (<= 255)         [10,16) reserved, zero
//   [16,24)  FNV-1a 64 checksum of all 360 bytes with this field zeroed
//   [24,32)  index (>= 0)                [32,40) payload bytes
//   [40,104) dims[8] (unused ones zero)  [104,360) tag, zero padded
// Decoding checks every field, so a corrupt or hostile header becomes
// DataLoss, and the payload size it implies is never above the caller's cap.
// Thread-safety: free functions without state.
#ifndef EQAT_WORKER_TRANSPORT_FRAME_CODEC_H_
#define EQAT_WORKER_TRANSPORT_FRAME_CODEC_H_

#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/transport/activation_transport.h"

namespace eqat {

inline constexpr size_t kFrameHeaderBytes = 360;
inline constexpr uint32_t kFrameMagic = 0x52465145;  // "EQFR"
inline constexpr uint8_t kFrameVersion = 1;
inline constexpr size_t kMaxFrameTagBytes = 255;
inline constexpr int kMaxFrameRank = 8;

struct FrameHeader {
  std::string tag;
  int64_t index = 0;
  bool end_of_stream = false;
  bool has_tensor = false;
  torch::ScalarType dtype = torch::kFloat32;  // meaningful with has_tensor
  std::vector<int64_t> shape;
  int64_t payload_bytes = 0;
};

// Header for `frame`; InvalidArgument when the wire cannot carry it (no
// tensor without end_of_stream, unsupported dtype, rank > 8, tag > 255 bytes,
// index < 0, payload above `max_frame_bytes`).
absl::StatusOr<FrameHeader> DescribeFrame(const TensorFrame& frame, int64_t max_frame_bytes);

// The bytes that travel for `tensor`: a contiguous CPU tensor (may share
// storage with `tensor`).
torch::Tensor WirePayload(const torch::Tensor& tensor);

// REQUIRES: `header` came from DescribeFrame (or is otherwise valid).
void EncodeFrameHeader(const FrameHeader& header, uint8_t out[kFrameHeaderBytes]);

// DataLoss for any malformed header or one whose payload exceeds
// `max_frame_bytes`.
absl::StatusOr<FrameHeader> DecodeFrameHeader(const uint8_t in[kFrameHeaderBytes],
                                              int64_t max_frame_bytes);

// Recomputes the checksum field of `header` in place (tests use it to craft
// headers that are well sealed but otherwise invalid).
void SealFrameHeader(uint8_t header[kFrameHeaderBytes]);

// Empty tensor of the header's dtype and shape, ready to receive the payload.
// REQUIRES: header.has_tensor.
torch::Tensor AllocateFramePayload(const FrameHeader& header);

}  // namespace eqat

#endif  // EQAT_WORKER_TRANSPORT_FRAME_CODEC_H_
