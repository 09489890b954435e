#include "common/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file_util.h"
#include "common/json.h"
#include "common/status_macros.h"

namespace eqat {
namespace {

// This absl build has its own string_view type; bridge from std::string_view.
absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // 100 MiB

struct DTypeEntry {
  DType dtype;
  std::string_view name;
  size_t size;
};

constexpr DTypeEntry kDTypes[] = {
    {DType::kF64, "F64", 8},  {DType::kF32, "F32", 4}, {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2}, {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4},
    {DType::kI16, "I16", 2},  {DType::kI8, "I8", 1},   {DType::kU8, "U8", 1},
    {DType::kBool, "BOOL", 1},
};

const DTypeEntry* LookupDType(DType d) {
  for (const auto& e : kDTypes) {
    if (e.dtype == d) return &e;
  }
  return nullptr;
}

std::string ShapeString(DType d, const std::vector<int64_t>& shape) {
  return absl::StrCat(AV(DTypeName(d)), "[", absl::StrJoin(shape, ","), "]");
}

// numel * dtype size with overflow detection; false on overflow.
bool ByteSize(const std::vector<int64_t>& shape, size_t elem, uint64_t* out) {
  uint64_t n = elem;
  for (int64_t d : shape) {
    if (d < 0) return false;
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return false;
  }
  *out = n;
  return true;
}

absl::Status Invalid(const std::string& path, absl::string_view msg) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", msg));
}

absl::Status TensorError(const std::string& path, absl::string_view name,
                         absl::string_view msg) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", name, "': ", msg));
}

absl::Status ErrnoStatus(const std::string& path, absl::string_view what, int err) {
  std::string msg = absl::StrCat(path, ": ", what, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  return absl::InternalError(msg);
}

// Parses one tensor entry of the header into `info`.
absl::Status ParseEntry(const std::string& path, const std::string& name, const Json& v,
                        uint64_t data_size, TensorInfo* info) {
  if (!v.is_object()) return TensorError(path, name, "entry is not a JSON object");
  for (const auto& kv : v.items()) {
    if (kv.key() != "dtype" && kv.key() != "shape" && kv.key() != "data_offsets") {
      return TensorError(path, name, absl::StrCat("unknown field '", kv.key(), "'"));
    }
  }
  info->name = name;
  auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string()) {
    return TensorError(path, name, "missing or non-string dtype");
  }
  const auto& dtype = dt->get_ref<const std::string&>();
  auto parsed = ParseDType(dtype);
  if (!parsed.ok()) {
    return TensorError(path, name, absl::StrCat("unknown dtype '", dtype, "'"));
  }
  info->dtype = *parsed;
  auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array()) return TensorError(path, name, "missing shape array");
  for (const auto& d : *sh) {
    std::optional<int64_t> dim = JsonInt64(d);
    if (!dim || *dim < 0) {
      return TensorError(path, name, "shape must be an array of non-negative integers");
    }
    info->shape.push_back(*dim);
  }
  auto off = v.find("data_offsets");
  std::optional<int64_t> begin, end;
  if (off != v.end() && off->is_array() && off->size() == 2) {
    begin = JsonInt64((*off)[0]);
    end = JsonInt64((*off)[1]);
  }
  if (!begin || !end || *begin < 0 || *end < 0) {
    return TensorError(path, name, "data_offsets must be [begin, end] of non-negative integers");
  }
  info->begin = static_cast<uint64_t>(*begin);
  info->end = static_cast<uint64_t>(*end);
  std::string offs = absl::StrCat("data_offsets [", info->begin, ",", info->end, "]");
  if (info->begin > info->end) return TensorError(path, name, absl::StrCat(offs, " begin > end"));
  if (info->end > data_size) {
    return TensorError(path, name,
                       absl::StrCat(offs, " extend beyond the data section of ", data_size,
                                    " bytes"));
  }
  uint64_t need = 0;
  if (!ByteSize(info->shape, DTypeSize(info->dtype), &need)) {
    return TensorError(path, name,
                       absl::StrCat("shape ", ShapeString(info->dtype, info->shape),
                                    " overflows the byte size"));
  }
  if (need != info->end - info->begin) {
    return TensorError(path, name,
                       absl::StrCat(offs, " hold ", info->end - info->begin, " bytes but ",
                                    ShapeString(info->dtype, info->shape), " needs ", need));
  }
  return absl::OkStatus();
}

}  // namespace

size_t DTypeSize(DType d) {
  const DTypeEntry* e = LookupDType(d);
  return e ? e->size : 0;
}

std::string_view DTypeName(DType d) {
  const DTypeEntry* e = LookupDType(d);
  return e ? e->name : std::string_view("UNKNOWN");
}

absl::StatusOr<DType> ParseDType(std::string_view name) {
  for (const auto& e : kDTypes) {
    if (e.name == name) return e.dtype;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown dtype '", AV(name), "'"));
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// ---------------------------------------------------------------------------
// SafetensorsFile

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) munmap(const_cast<uint8_t*>(map_), map_size_);
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(path, "cannot open", errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return ErrnoStatus(path, "cannot stat", err);
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    return Invalid(path, "is a directory, expected a .safetensors file");
  }
  uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8) {
    close(fd);
    return Invalid(path, absl::StrCat("truncated file: ", file_size,
                                      " bytes, need at least 8 for the header length"));
  }
  void* m = mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  int map_err = errno;
  close(fd);
  if (m == MAP_FAILED) return ErrnoStatus(path, "mmap failed", map_err);

  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->map_ = static_cast<const uint8_t*>(m);
  f->map_size_ = file_size;

  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | f->map_[i];
  if (n > kMaxHeaderBytes) {
    return Invalid(path, absl::StrCat("header length ", n, " exceeds the 100 MiB limit"));
  }
  if (8 + n > file_size) {
    return Invalid(path, absl::StrCat("header length ", n, " extends beyond the file size ",
                                      file_size, " (truncated file?)"));
  }
  std::string_view header(reinterpret_cast<const char*>(f->map_ + 8), n);
  JsonLimits limits;
  limits.max_bytes = kMaxHeaderBytes;
  auto parsed = ParseJson(header, limits);
  if (!parsed.ok()) {
    return Invalid(path, absl::StrCat("header is not valid JSON: ", parsed.status().message()));
  }
  if (!parsed->is_object()) return Invalid(path, "header is not a JSON object");
  f->data_ = f->map_ + 8 + n;
  uint64_t data_size = file_size - 8 - n;

  for (const auto& kv : parsed->items()) {
    const std::string& key = kv.key();
    if (key == "__metadata__") {
      if (!kv.value().is_object()) return Invalid(path, "__metadata__ is not a JSON object");
      for (const auto& m : kv.value().items()) {
        if (!m.value().is_string()) {
          return Invalid(path, absl::StrCat("__metadata__ value for '", m.key(),
                                            "' is not a string"));
        }
        f->metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (key.size() >= 2 && key.compare(0, 2, "__") == 0) {
      return Invalid(path, absl::StrCat("unknown top-level key '", key, "'"));
    }
    TensorInfo info;
    RETURN_IF_ERROR(ParseEntry(path, key, kv.value(), data_size, &info));
    f->tensors_.push_back(std::move(info));
  }

  std::vector<const TensorInfo*> order;
  order.reserve(f->tensors_.size());
  for (const auto& t : f->tensors_) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  for (size_t i = 1; i < order.size(); ++i) {
    const TensorInfo* p = order[i - 1];
    const TensorInfo* c = order[i];
    if (c->begin < p->end) {
      return TensorError(path, c->name,
                         absl::StrCat("data_offsets [", c->begin, ",", c->end,
                                      "] overlap tensor '", p->name, "' [", p->begin, ",",
                                      p->end, "]"));
    }
  }
  return f;
}

const TensorInfo* SafetensorsFile::Find(std::string_view name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

absl::StatusOr<TensorView> SafetensorsFile::Get(std::string_view name) const {
  const TensorInfo* t = Find(name);
  if (t == nullptr) {
    return absl::NotFoundError(absl::StrCat(path_, ": no tensor '", AV(name), "'"));
  }
  return TensorView{t, data_ + t->begin};
}

// ---------------------------------------------------------------------------
// SafetensorsModel

absl::StatusOr<std::unique_ptr<SafetensorsModel>> SafetensorsModel::Open(
    const std::string& path) {
  if (!PathExists(path)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file or directory"));
  }
  auto model = std::unique_ptr<SafetensorsModel>(new SafetensorsModel());
  if (!IsDirectory(path)) {
    ASSIGN_OR_RETURN(auto f, SafetensorsFile::Open(path));
    for (const auto& t : f->tensors()) model->where_[t.name] = f.get();
    model->files_.push_back(std::move(f));
    return model;
  }
  const std::string index_path = JoinPath(path, "model.safetensors.index.json");
  if (!PathExists(index_path)) {
    const std::string single = JoinPath(path, "model.safetensors");
    if (!PathExists(single)) {
      return absl::NotFoundError(absl::StrCat(
          path, ": no model.safetensors or model.safetensors.index.json in directory"));
    }
    return Open(single);
  }
  ASSIGN_OR_RETURN(std::string text, ReadFile(index_path));
  auto index = ParseJson(text);
  if (!index.ok()) {
    return Invalid(index_path, absl::StrCat("not valid JSON: ", index.status().message()));
  }
  auto wm = index->find("weight_map");
  if (wm == index->end() || !wm->is_object()) {
    return Invalid(index_path, "missing \"weight_map\" object");
  }
  // Open each distinct shard once, in order of first mention.
  std::map<std::string, const SafetensorsFile*> shards;
  for (const auto& kv : wm->items()) {
    if (!kv.value().is_string()) {
      return Invalid(index_path,
                     absl::StrCat("weight_map entry for tensor '", kv.key(), "' is not a string"));
    }
    const auto& shard = kv.value().get_ref<const std::string&>();
    if (shard.empty() || shard == "." || shard == ".." ||
        shard.find('/') != std::string::npos || shard.find('\0') != std::string::npos) {
      return Invalid(index_path, absl::StrCat("shard '", shard, "' for tensor '", kv.key(),
                                              "' is not a plain file name"));
    }
    if (shards.count(shard) > 0) continue;
    const std::string shard_path = JoinPath(path, shard);
    if (!PathExists(shard_path)) {
      return Invalid(index_path, absl::StrCat("shard '", shard, "' (for tensor '", kv.key(),
                                              "') is missing"));
    }
    ASSIGN_OR_RETURN(auto f, SafetensorsFile::Open(shard_path));
    shards[shard] = f.get();
    model->files_.push_back(std::move(f));
  }
  for (const auto& kv : wm->items()) {
    const auto& shard = kv.value().get_ref<const std::string&>();
    const SafetensorsFile* f = shards[shard];
    if (f->Find(kv.key()) == nullptr) {
      return Invalid(index_path, absl::StrCat("tensor '", kv.key(), "' is mapped to shard '",
                                              shard, "' but missing from it"));
    }
    model->where_[kv.key()] = f;
  }
  // Tensors present in a shard but absent from weight_map are still exposed;
  // such a name must then be unique across shards.
  std::map<std::string, const SafetensorsFile*> extra;
  for (const auto& f : model->files_) {
    for (const auto& t : f->tensors()) {
      if (wm->contains(t.name)) continue;
      auto [it, inserted] = extra.emplace(t.name, f.get());
      if (!inserted) {
        return Invalid(index_path,
                       absl::StrCat("tensor '", t.name, "' is not in weight_map and appears in "
                                    "both ", it->second->path(), " and ", f->path()));
      }
      model->where_[t.name] = f.get();
    }
  }
  return model;
}

std::vector<std::string> SafetensorsModel::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& kv : where_) out.push_back(kv.first);
  return out;
}

bool SafetensorsModel::Has(std::string_view name) const { return where_.find(name) != where_.end(); }

const TensorInfo* SafetensorsModel::Find(std::string_view name) const {
  auto it = where_.find(name);
  return it == where_.end() ? nullptr : it->second->Find(name);
}

absl::StatusOr<TensorView> SafetensorsModel::Get(std::string_view name) const {
  auto it = where_.find(name);
  if (it == where_.end()) {
    std::string where = files_.empty() ? std::string("model") : files_.front()->path();
    return absl::NotFoundError(absl::StrCat("no tensor '", AV(name), "' in ", where,
                                            files_.size() > 1 ? " (and other shards)" : ""));
  }
  return it->second->Get(name);
}

// ---------------------------------------------------------------------------
// Writing

namespace {

absl::Status WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "write failed");
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string_view> seen;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__") {
      return Invalid(path, absl::StrCat("invalid tensor name '", t.name, "'"));
    }
    if (!seen.insert(t.name).second) {
      return TensorError(path, t.name, "duplicate tensor name");
    }
    if (LookupDType(t.dtype) == nullptr) {
      return TensorError(path, t.name, absl::StrCat("unknown dtype ", static_cast<int>(t.dtype)));
    }
    uint64_t need = 0;
    if (!ByteSize(t.shape, DTypeSize(t.dtype), &need)) {
      return TensorError(path, t.name, "shape has negative dims or overflows");
    }
    if (need != t.data.size()) {
      return TensorError(path, t.name,
                         absl::StrCat("data holds ", t.data.size(), " bytes but ",
                                      ShapeString(t.dtype, t.shape), " needs ", need));
    }
    header[t.name] = {{"dtype", DTypeName(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + need}}};
    offset += need;
  }
  std::string head = DumpJson(header);
  head.append((8 - head.size() % 8) % 8, ' ');
  char len[8];
  uint64_t n = head.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xff);

  // Temp file in the same directory, fsync, rename (streamed: no full copy).
  static std::atomic<int> counter{0};
  const std::string tmp = absl::StrCat(path, ".tmp.", getpid(), ".", counter++);
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(path, "cannot create temp file", errno);
  absl::Status st = WriteAll(fd, len, 8);
  if (st.ok()) st = WriteAll(fd, head.data(), head.size());
  for (const auto& t : tensors) {
    if (!st.ok()) break;
    st = WriteAll(fd, t.data.data(), t.data.size());
  }
  if (st.ok() && fsync(fd) != 0) st = absl::ErrnoToStatus(errno, "fsync failed");
  if (close(fd) != 0 && st.ok()) st = absl::ErrnoToStatus(errno, "close failed");
  if (st.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    st = absl::ErrnoToStatus(errno, "rename failed");
  }
  if (!st.ok()) {
    unlink(tmp.c_str());
    return absl::Status(st.code(), absl::StrCat(path, ": ", st.message()));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// 16-bit floats

namespace {
uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float BitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace

float HalfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0x1f) return BitsFloat(sign | 0x7f800000u | (mant << 13));  // inf / nan
  if (exp != 0) return BitsFloat(sign | ((exp + 112) << 23) | (mant << 13));
  if (mant == 0) return BitsFloat(sign);
  // Subnormal: mant * 2^-24, exact in float.
  float v = static_cast<float>(mant) * BitsFloat(0x33800000u);  // 2^-24
  return sign ? -v : v;
}

uint16_t FloatToHalf(float f) {
  uint32_t x = FloatBits(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) {  // inf or nan
    if (x == 0x7f800000u) return sign | 0x7c00;
    return sign | 0x7e00 | static_cast<uint16_t>((x >> 13) & 0x3ff);  // quiet nan
  }
  if (x >= 0x477ff000u) return sign | 0x7c00;  // >= 65520 rounds to inf
  if (x >= 0x38800000u) {                      // normal half (>= 2^-14)
    uint32_t odd = (x >> 13) & 1;
    x = x - (112u << 23) + 0xfffu + odd;
    return sign | static_cast<uint16_t>(x >> 13);
  }
  if (x <= 0x33000000u) return sign;  // <= 2^-25 rounds (to even) to zero
  // Subnormal half: value in units of 2^-24 with round-to-nearest-even.
  uint32_t exp = x >> 23;
  uint32_t mant = (x & 0x7fffffu) | 0x800000u;
  uint32_t shift = 126 - exp;  // 14..24
  uint32_t r = mant >> shift;
  uint32_t rem = mant & ((1u << shift) - 1);
  uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (r & 1))) ++r;
  return sign | static_cast<uint16_t>(r);
}

float BFloat16ToFloat(uint16_t b) { return BitsFloat(static_cast<uint32_t>(b) << 16); }

uint16_t FloatToBFloat16(float f) {
  uint32_t x = FloatBits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) {  // nan: keep sign, force quiet
    return static_cast<uint16_t>((x >> 16) | 0x40);
  }
  x += 0x7fffu + ((x >> 16) & 1);
  return static_cast<uint16_t>(x >> 16);
}

}  // namespace eqat
