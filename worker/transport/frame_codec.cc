#include "worker/transport/frame_codec.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace eqat {
namespace {

constexpr size_t kChecksumOffset = 16;
constexpr size_t kTagOffset = 104;
constexpr uint8_t kFlagEndOfStream = 1;
constexpr uint8_t kFlagHasTensor = 2;

void PutU16(uint8_t* p, uint16_t v) {
  for (int i = 0; i < 2; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint16_t GetU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t GetU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t GetU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint64_t Checksum(const uint8_t* header) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64
  for (size_t i = 0; i < kFrameHeaderBytes; ++i) {
    const uint8_t b = (i >= kChecksumOffset && i < kChecksumOffset + 8) ? 0 : header[i];
    h = (h ^ b) * 0x100000001b3ull;
  }
  return h;
}

// Wire code and element size of a dtype; code 0 when unsupported.
uint8_t DtypeCode(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return 1;
    case torch::kBFloat16: return 2;
    case torch::kFloat16: return 3;
    default: return 0;
  }
}
bool DtypeFromCode(uint8_t code, torch::ScalarType* t, int64_t* elem) {
  switch (code) {
    case 1: *t = torch::kFloat32; *elem = 4; return true;
    case 2: *t = torch::kBFloat16; *elem = 2; return true;
    case 3: *t = torch::kFloat16; *elem = 2; return true;
    default: return false;
  }
}

int64_t FrameCap(int64_t max_frame_bytes) {
  return std::clamp<int64_t>(max_frame_bytes, 0, kMaxFrameBytesLimit);
}

absl::Status Corrupt(const std::string& what) {
  return absl::DataLossError(absl::StrCat("corrupt activation frame header: ", what));
}

}  // namespace

absl::StatusOr<FrameHeader> DescribeFrame(const TensorFrame& frame, int64_t max_frame_bytes) {
  FrameHeader h;
  if (frame.tag.size() > kMaxFrameTagBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("frame tag longer than ", kMaxFrameTagBytes, " bytes"));
  }
  if (frame.index < 0) {
    return absl::InvalidArgumentError(absl::StrCat("negative frame index ", frame.index));
  }
  h.tag = frame.tag;
  h.index = frame.index;
  h.end_of_stream = frame.end_of_stream;
  if (!frame.tensor.defined()) {
    if (!frame.end_of_stream) {
      return absl::InvalidArgumentError("a frame without a tensor must be end_of_stream");
    }
    return h;
  }
  const torch::Tensor& t = frame.tensor;
  if (DtypeCode(t.scalar_type()) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported frame dtype ", std::string(c10::toString(t.scalar_type())),
                     " (float32, bfloat16, float16 only)"));
  }
  if (t.dim() > kMaxFrameRank) {
    return absl::InvalidArgumentError(
        absl::StrCat("frame tensor rank ", t.dim(), " > ", kMaxFrameRank));
  }
  const int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
  if (bytes > FrameCap(max_frame_bytes)) {
    return absl::InvalidArgumentError(absl::StrCat("frame of ", bytes, " bytes exceeds the cap of ",
                                                   FrameCap(max_frame_bytes)));
  }
  h.has_tensor = true;
  h.dtype = t.scalar_type();
  h.shape = t.sizes().vec();
  h.payload_bytes = bytes;
  return h;
}

torch::Tensor WirePayload(const torch::Tensor& tensor) {
  torch::Tensor t = tensor.device().is_cpu() ? tensor : tensor.to(torch::kCPU);
  return t.contiguous();
}

void EncodeFrameHeader(const FrameHeader& h, uint8_t out[kFrameHeaderBytes]) {
  std::memset(out, 0, kFrameHeaderBytes);
  PutU32(out, kFrameMagic);
  out[4] = kFrameVersion;
  out[5] = (h.end_of_stream ? kFlagEndOfStream : 0) | (h.has_tensor ? kFlagHasTensor : 0);
  if (h.has_tensor) {
    out[6] = DtypeCode(h.dtype);
    out[7] = static_cast<uint8_t>(h.shape.size());
    for (size_t i = 0; i < h.shape.size(); ++i) {
      PutU64(out + 40 + 8 * i, static_cast<uint64_t>(h.shape[i]));
    }
    PutU64(out + 32, static_cast<uint64_t>(h.payload_bytes));
  }
  PutU16(out + 8, static_cast<uint16_t>(h.tag.size()));
  PutU64(out + 24, static_cast<uint64_t>(h.index));
  std::memcpy(out + kTagOffset, h.tag.data(), h.tag.size());
  SealFrameHeader(out);
}

void SealFrameHeader(uint8_t header[kFrameHeaderBytes]) {
  PutU64(header + kChecksumOffset, Checksum(header));
}

absl::StatusOr<FrameHeader> DecodeFrameHeader(const uint8_t in[kFrameHeaderBytes],
                                              int64_t max_frame_bytes) {
  if (GetU32(in) != kFrameMagic) return Corrupt("bad magic");
  if (in[4] != kFrameVersion) return Corrupt(absl::StrCat("unknown version ", in[4]));
  if (GetU64(in + kChecksumOffset) != Checksum(in)) return Corrupt("checksum mismatch");
  const uint8_t flags = in[5];
  if (flags & ~(kFlagEndOfStream | kFlagHasTensor)) return Corrupt("unknown flags");
  for (size_t i = 10; i < 16; ++i) {
    if (in[i] != 0) return Corrupt("reserved bytes set");
  }
  FrameHeader h;
  h.end_of_stream = flags & kFlagEndOfStream;
  h.has_tensor = flags & kFlagHasTensor;
  const size_t tag_len = GetU16(in + 8);
  if (tag_len > kMaxFrameTagBytes) return Corrupt("tag too long");
  for (size_t i = kTagOffset + tag_len; i < kFrameHeaderBytes; ++i) {
    if (in[i] != 0) return Corrupt("tag padding set");
  }
  h.tag.assign(reinterpret_cast<const char*>(in + kTagOffset), tag_len);
  const uint64_t index = GetU64(in + 24);
  if (index > static_cast<uint64_t>(INT64_MAX)) return Corrupt("negative index");
  h.index = static_cast<int64_t>(index);
  const uint64_t payload = GetU64(in + 32);
  const int rank = in[7];
  if (rank > kMaxFrameRank) return Corrupt(absl::StrCat("rank ", rank, " > ", kMaxFrameRank));
  for (int i = rank; i < kMaxFrameRank; ++i) {
    if (GetU64(in + 40 + 8 * i) != 0) return Corrupt("unused dims set");
  }
  if (!h.has_tensor) {
    if (!h.end_of_stream) return Corrupt("frame without tensor or end of stream");
    if (in[6] != 0 || rank != 0 || payload != 0) return Corrupt("tensor fields without tensor");
    return h;
  }
  int64_t elem = 0;
  if (!DtypeFromCode(in[6], &h.dtype, &elem)) {
    return Corrupt(absl::StrCat("unknown dtype ", in[6]));
  }
  const uint64_t cap = static_cast<uint64_t>(FrameCap(max_frame_bytes));
  uint64_t numel = 1;
  for (int i = 0; i < rank; ++i) {
    const uint64_t d = GetU64(in + 40 + 8 * i);
    if (d > cap) return Corrupt(absl::StrCat("dim ", i, " = ", d, " out of range"));
    h.shape.push_back(static_cast<int64_t>(d));
    if (__builtin_mul_overflow(numel, d, &numel)) return Corrupt("shape overflows");
  }
  uint64_t expected = 0;
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(elem), &expected) ||
      expected != payload) {
    return Corrupt("payload size does not match shape and dtype");
  }
  if (payload > cap) {
    return Corrupt(absl::StrCat("payload of ", payload, " bytes exceeds the cap of ", cap));
  }
  h.payload_bytes = static_cast<int64_t>(payload);
  return h;
}

torch::Tensor AllocateFramePayload(const FrameHeader& header) {
  return torch::empty(header.shape, torch::TensorOptions().dtype(header.dtype));
}

}  // namespace eqat
