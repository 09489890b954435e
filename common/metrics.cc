#include "common/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace eqat::metrics {
namespace {

void AtomicAdd(std::atomic<double>* a, double v) {
  double cur = a->load(std::memory_order_relaxed);
  while (!a->compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

std::string EscapeHelp(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string EscapeLabelValue(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void AppendSample(std::string* out, const std::string& name, const Labels& labels,
                  const std::string& value) {
  *out += name;
  if (!labels.empty()) {
    *out += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) *out += ',';
      first = false;
      absl::StrAppend(out, k, "=\"", EscapeLabelValue(v), "\"");
    }
    *out += '}';
  }
  absl::StrAppend(out, " ", value, "\n");
}

bool IsNameChar(char c, bool first, bool allow_colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (allow_colon && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

bool ValidName(const std::string& name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i], i == 0, allow_colon)) return false;
  }
  return true;
}

BucketBoundaries Normalize(BucketBoundaries b) {
  b.erase(std::remove_if(b.begin(), b.end(),
                         [](double x) { return std::isnan(x) || x == INFINITY; }),
          b.end());
  std::sort(b.begin(), b.end());
  b.erase(std::unique(b.begin(), b.end()), b.end());
  return b;
}

}  // namespace

const char* MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

void Counter::Increment(double v) {
  if (!(v >= 0)) return;  // also rejects NaN
  AtomicAdd(&value_, v);
}

void Gauge::Increment(double v) { AtomicAdd(&value_, v); }

void Gauge::SetToCurrentTime() { Set(absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch())); }

Histogram::Histogram(const BucketBoundaries& buckets)
    : bounds_(Normalize(buckets)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double v) {
  size_t idx = bounds_.size();  // +Inf
  if (!std::isnan(v)) {
    idx = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  }
  absl::MutexLock lock(&mu_);
  ++counts_[idx];
  sum_ += v;
  ++count_;
}

uint64_t Histogram::Count() const {
  absl::MutexLock lock(&mu_);
  return count_;
}

double Histogram::Sum() const {
  absl::MutexLock lock(&mu_);
  return sum_;
}

std::vector<uint64_t> Histogram::CumulativeCounts() const {
  absl::MutexLock lock(&mu_);
  std::vector<uint64_t> out(counts_.size());
  uint64_t acc = 0;
  for (size_t i = 0; i < counts_.size(); ++i) out[i] = acc += counts_[i];
  return out;
}

void Histogram::Collect(Sample* out) const {
  std::vector<uint64_t> cum;
  {
    absl::MutexLock lock(&mu_);
    uint64_t acc = 0;
    for (uint64_t c : counts_) cum.push_back(acc += c);
    out->sum = sum_;
    out->count = count_;
  }
  out->buckets.clear();
  for (size_t i = 0; i < cum.size(); ++i) {
    out->buckets.emplace_back(i < bounds_.size() ? bounds_[i] : INFINITY, cum[i]);
  }
}

BucketBoundaries ExponentialBuckets(double start, double factor, int count) {
  BucketBoundaries b;
  for (int i = 0; i < count; ++i, start *= factor) b.push_back(start);
  return b;
}

BucketBoundaries LinearBuckets(double start, double width, int count) {
  BucketBoundaries b;
  for (int i = 0; i < count; ++i) b.push_back(start + i * width);
  return b;
}

bool IsValidMetricName(const std::string& name) { return ValidName(name, true); }

bool IsValidLabelName(const std::string& name) {
  return ValidName(name, false) && name.rfind("__", 0) != 0;
}

namespace internal {

void LogError(const std::string& msg) {
  std::cerr << "eqat metrics: " << msg << std::endl;
}

bool CheckLabels(const std::string& family, MetricType type,
                 const Labels& const_labels, const Labels& labels) {
  for (const auto& [k, v] : labels) {
    std::string why;
    if (!IsValidLabelName(k)) why = "invalid label name";
    else if (const_labels.count(k)) why = "label clashes with a constant label";
    else if (type == MetricType::kHistogram && k == "le") why = "label 'le' is reserved";
    if (!why.empty()) {
      LogError(absl::StrCat(family, ": ", why, " '", k, "'; metric is detached"));
      return false;
    }
  }
  return true;
}

}  // namespace internal

template <typename T>
Family<T>& Registry::Register(const std::string& name, const std::string& help,
                              const Labels& const_labels) {
  std::string why;
  if (!IsValidMetricName(name)) {
    why = "invalid metric name";
  } else {
    for (const auto& [k, v] : const_labels) {
      if (!IsValidLabelName(k) || (T::kType == MetricType::kHistogram && k == "le")) {
        why = absl::StrCat("invalid constant label name '", k, "'");
        break;
      }
    }
  }
  absl::MutexLock lock(&mu_);
  if (why.empty()) {
    auto it = families_.find(name);
    if (it == families_.end()) {
      auto fam = std::make_unique<Family<T>>(name, help, const_labels);
      Family<T>* raw = fam.get();
      families_.emplace(name, std::move(fam));
      return *raw;
    }
    if (it->second->type() == T::kType) {
      if (it->second->const_labels() != const_labels) {
        internal::LogError(absl::StrCat(
            name, ": registered again with other constant labels; keeping the first"));
      }
      return static_cast<Family<T>&>(*it->second);
    }
    why = absl::StrCat("already registered as a ", MetricTypeName(it->second->type()));
  }
  internal::LogError(absl::StrCat("'", name, "' (", MetricTypeName(T::kType), "): ",
                                  why, "; family is detached and not exported"));
  detached_.push_back(std::make_unique<Family<T>>(name, help, const_labels));
  return static_cast<Family<T>&>(*detached_.back());
}

template Family<Counter>& Registry::Register<Counter>(const std::string&, const std::string&,
                                                      const Labels&);
template Family<Gauge>& Registry::Register<Gauge>(const std::string&, const std::string&,
                                                  const Labels&);
template Family<Histogram>& Registry::Register<Histogram>(const std::string&,
                                                          const std::string&, const Labels&);

std::vector<FamilySnapshot> Registry::Collect() const {
  std::vector<FamilySnapshot> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [name, fam] : families_) {  // std::map: sorted by name
    FamilySnapshot snap = fam->Collect();
    if (!snap.samples.empty()) out.push_back(std::move(snap));
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == 0) return "0";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e18) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
    return buf;
  }
  for (int prec = 15; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof(buf), "%.*g", prec, v);
    if (prec == 17 || std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string SerializeText(const std::vector<FamilySnapshot>& families) {
  std::string out;
  for (const FamilySnapshot& f : families) {
    absl::StrAppend(&out, "# HELP ", f.name, " ", EscapeHelp(f.help), "\n");
    absl::StrAppend(&out, "# TYPE ", f.name, " ", MetricTypeName(f.type), "\n");
    for (const Sample& s : f.samples) {
      if (f.type != MetricType::kHistogram) {
        AppendSample(&out, f.name, s.labels, FormatValue(s.value));
        continue;
      }
      const std::string bucket = f.name + "_bucket";
      for (const auto& [bound, cum] : s.buckets) {
        Labels l = s.labels;
        l["le"] = FormatValue(bound);
        AppendSample(&out, bucket, l, absl::StrCat(cum));
      }
      AppendSample(&out, f.name + "_sum", s.labels, FormatValue(s.sum));
      AppendSample(&out, f.name + "_count", s.labels, absl::StrCat(s.count));
    }
  }
  return out;
}

std::string SerializeText(const Registry& registry) {
  return SerializeText(registry.Collect());
}

// ---- process metrics ----

namespace {

// Serializes the read-modify-write of process_cpu_seconds_total.
ABSL_CONST_INIT absl::Mutex process_mu(absl::kConstInit);

// Fields of /proc/self/stat after the ")" closing the command name; index 0 is
// field 3 (state).
std::vector<std::string> ProcSelfStatFields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  std::getline(in, line);
  std::vector<std::string> fields;
  size_t close = line.rfind(')');
  if (close == std::string::npos) return fields;
  std::istringstream rest(line.substr(close + 1));
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

// Seconds since the epoch at which this process started; 0 if unknown.
double ProcessStartTime() {
  std::vector<std::string> fields = ProcSelfStatFields();
  if (fields.size() < 20) return 0;
  double start_ticks = std::strtod(fields[19].c_str(), nullptr);  // field 22
  std::ifstream stat("/proc/stat");
  std::string key;
  double btime = 0;
  for (std::string line; std::getline(stat, line);) {
    std::istringstream ls(line);
    if (ls >> key && key == "btime") {
      ls >> btime;
      break;
    }
  }
  long ticks = sysconf(_SC_CLK_TCK);
  if (btime <= 0 || ticks <= 0) return 0;
  return btime + start_ticks / static_cast<double>(ticks);
}

int CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // the DIR's own descriptor
}

}  // namespace

void UpdateProcessMetrics(Registry& registry) {
  long page = sysconf(_SC_PAGESIZE);
  double vsize_pages = 0, rss_pages = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%lf %lf", &vsize_pages, &rss_pages) != 2) vsize_pages = rss_pages = 0;
    std::fclose(f);
  }
  BuildGauge()
      .Name("process_resident_memory_bytes")
      .Help("Resident memory size in bytes.")
      .Register(registry)
      .Add({})
      .Set(rss_pages * page);
  BuildGauge()
      .Name("process_virtual_memory_bytes")
      .Help("Virtual memory size in bytes.")
      .Register(registry)
      .Add({})
      .Set(vsize_pages * page);

  static const double start_time = ProcessStartTime();
  BuildGauge()
      .Name("process_start_time_seconds")
      .Help("Start time of the process since unix epoch in seconds.")
      .Register(registry)
      .Add({})
      .Set(start_time);

  int fds = CountOpenFds();
  if (fds >= 0) {
    BuildGauge()
        .Name("process_open_fds")
        .Help("Number of open file descriptors.")
        .Register(registry)
        .Add({})
        .Set(fds);
  }

  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
               ru.ru_stime.tv_usec / 1e6;
  Counter& counter = BuildCounter()
                         .Name("process_cpu_seconds_total")
                         .Help("Total user and system CPU time spent in seconds.")
                         .Register(registry)
                         .Add({});
  absl::MutexLock lock(&process_mu);
  double delta = cpu - counter.Value();
  if (delta > 0) counter.Increment(delta);
}

}  // namespace eqat::metrics
