// Minimal Prometheus-style metrics with prometheus-cpp's API shape (that
// library is not packaged for us): Counter, Gauge, Histogram, labelled
// Family<T>, BuildCounter()/BuildGauge()/BuildHistogram() builders, a Registry
// and SerializeText() in text exposition format 0.0.4.
//
// Naming convention: eqat_<subsystem>_<what>_<unit>; counters end in _total
// and the caller passes the full name (e.g. eqat_blocks_completed_total).
//
// Nothing here aborts: an invalid metric/label name, or a name registered
// again with another type, logs to stderr and yields a *detached* family or
// metric that works normally but is never exported.
//
// Thread-safety: everything is thread-safe. References returned by
// Registry/Family stay valid for the owner's lifetime (a metric until it is
// Remove()d). Metric values are lock-free atomics; a histogram uses a mutex
// so its buckets, _sum and _count are always mutually consistent.
#ifndef EQAT_COMMON_METRICS_H_
#define EQAT_COMMON_METRICS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace eqat::metrics {

using Labels = std::map<std::string, std::string>;
// Upper bounds of histogram buckets; +Inf is implicit (always the last).
using BucketBoundaries = std::vector<double>;

enum class MetricType { kCounter, kGauge, kHistogram };
const char* MetricTypeName(MetricType type);  // "counter", "gauge", ...

// Collected state of one metric (const labels merged with its own labels).
struct Sample {
  Labels labels;
  double value = 0;  // counter / gauge
  // Histogram only: (upper bound, cumulative count); last bound is +Inf.
  std::vector<std::pair<double, uint64_t>> buckets;
  double sum = 0;
  uint64_t count = 0;
};

struct FamilySnapshot {
  std::string name;
  std::string help;
  MetricType type = MetricType::kGauge;
  std::vector<Sample> samples;  // ordered by labels
};

// Monotonic. Negative or NaN increments are ignored.
class Counter {
 public:
  static constexpr MetricType kType = MetricType::kCounter;
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Increment(double v = 1.0);
  double Value() const { return value_.load(std::memory_order_relaxed); }
  void Collect(Sample* out) const { out->value = Value(); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  static constexpr MetricType kType = MetricType::kGauge;
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Increment(double v = 1.0);
  void Decrement(double v = 1.0) { Increment(-v); }
  void SetToCurrentTime();  // seconds since the Unix epoch
  double Value() const { return value_.load(std::memory_order_relaxed); }
  void Collect(Sample* out) const { out->value = Value(); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  static constexpr MetricType kType = MetricType::kHistogram;
  // Boundaries are sorted and de-duplicated; NaN and +Inf are dropped (+Inf
  // is always added implicitly).
  explicit Histogram(const BucketBoundaries& buckets);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // v lands in the first bucket with v <= bound (NaN: only in +Inf).
  void Observe(double v);
  uint64_t Count() const;
  double Sum() const;
  // One cumulative count per bound, plus the +Inf bucket last.
  std::vector<uint64_t> CumulativeCounts() const;
  const BucketBoundaries& boundaries() const { return bounds_; }
  void Collect(Sample* out) const;

 private:
  const BucketBoundaries bounds_;
  mutable absl::Mutex mu_;
  std::vector<uint64_t> counts_ ABSL_GUARDED_BY(mu_);  // per bucket, +Inf last
  double sum_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t count_ ABSL_GUARDED_BY(mu_) = 0;
};

// start, start*factor, ... (count bounds).
BucketBoundaries ExponentialBuckets(double start, double factor, int count);
// start, start+width, ... (count bounds).
BucketBoundaries LinearBuckets(double start, double width, int count);

// Name checks: metrics [a-zA-Z_:][a-zA-Z0-9_:]*; labels [a-zA-Z_][a-zA-Z0-9_]*
// and not starting with "__" (reserved by Prometheus).
bool IsValidMetricName(const std::string& name);
bool IsValidLabelName(const std::string& name);

namespace internal {
// Logs "eqat metrics: <msg>" to stderr.
void LogError(const std::string& msg);
// Checks labels for Family::Add; on failure logs and returns false.
bool CheckLabels(const std::string& family, MetricType type,
                 const Labels& const_labels, const Labels& labels);
}  // namespace internal

class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, Labels const_labels)
      : name_(std::move(name)), help_(std::move(help)),
        const_labels_(std::move(const_labels)) {}
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const Labels& const_labels() const { return const_labels_; }
  virtual MetricType type() const = 0;
  virtual FamilySnapshot Collect() const = 0;

 private:
  const std::string name_;
  const std::string help_;
  const Labels const_labels_;
};

// Metrics of one name, one per distinct label set.
template <typename T>
class Family : public FamilyBase {
 public:
  using FamilyBase::FamilyBase;

  // Same labels -> same instance (later constructor args are then ignored).
  // Invalid labels (bad name, clash with a const label, "le" on a histogram)
  // log and return a detached metric that is never exported.
  // Histogram: Add(labels, BucketBoundaries{...}).
  template <typename... Args>
  T& Add(const Labels& labels, Args&&... args) {
    absl::MutexLock lock(&mu_);
    if (!internal::CheckLabels(name(), T::kType, const_labels(), labels)) {
      detached_.push_back(std::make_unique<T>(std::forward<Args>(args)...));
      return *detached_.back();
    }
    auto it = metrics_.find(labels);
    if (it == metrics_.end()) {
      it = metrics_.emplace(labels, std::make_unique<T>(std::forward<Args>(args)...))
               .first;
    }
    return *it->second;
  }

  // Stops exporting `metric` and destroys it; no-op for unknown pointers.
  void Remove(T* metric) {
    absl::MutexLock lock(&mu_);
    for (auto it = metrics_.begin(); it != metrics_.end(); ++it) {
      if (it->second.get() == metric) {
        metrics_.erase(it);
        return;
      }
    }
  }

  bool Has(const Labels& labels) const {
    absl::MutexLock lock(&mu_);
    return metrics_.count(labels) > 0;
  }

  MetricType type() const override { return T::kType; }

  FamilySnapshot Collect() const override {
    FamilySnapshot snap{name(), help(), T::kType, {}};
    absl::MutexLock lock(&mu_);
    snap.samples.reserve(metrics_.size());
    for (const auto& [labels, metric] : metrics_) {
      Sample s;
      s.labels = const_labels();
      s.labels.insert(labels.begin(), labels.end());
      metric->Collect(&s);
      snap.samples.push_back(std::move(s));
    }
    return snap;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<Labels, std::unique_ptr<T>> metrics_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<T>> detached_ ABSL_GUARDED_BY(mu_);
};

// Owns families. Register() with a known name and the same type returns the
// existing family (its help/const labels win); another type or an invalid
// name logs and returns a detached family.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  template <typename T>
  Family<T>& Register(const std::string& name, const std::string& help,
                      const Labels& const_labels);

  // Families with at least one metric, sorted by name.
  std::vector<FamilySnapshot> Collect() const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<FamilyBase>> families_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<FamilyBase>> detached_ ABSL_GUARDED_BY(mu_);
};

extern template Family<Counter>& Registry::Register<Counter>(
    const std::string&, const std::string&, const Labels&);
extern template Family<Gauge>& Registry::Register<Gauge>(
    const std::string&, const std::string&, const Labels&);
extern template Family<Histogram>& Registry::Register<Histogram>(
    const std::string&, const std::string&, const Labels&);

// BuildCounter().Name("x_total").Help("...").Labels({...}).Register(registry).
template <typename T>
class Builder {
 public:
  Builder& Name(const std::string& name) { name_ = name; return *this; }
  Builder& Help(const std::string& help) { help_ = help; return *this; }
  Builder& Labels(const std::map<std::string, std::string>& const_labels) {
    labels_ = const_labels;
    return *this;
  }
  Family<T>& Register(Registry& registry) {
    return registry.Register<T>(name_, help_, labels_);
  }

 private:
  std::string name_;
  std::string help_;
  std::map<std::string, std::string> labels_;
};

inline Builder<Counter> BuildCounter() { return {}; }
inline Builder<Gauge> BuildGauge() { return {}; }
inline Builder<Histogram> BuildHistogram() { return {}; }

// Prometheus text exposition format 0.0.4 of every exported family.
std::string SerializeText(const Registry& registry);
std::string SerializeText(const std::vector<FamilySnapshot>& families);
// Sample value as the format wants it: NaN, +Inf, -Inf, integers without an
// exponent, otherwise the shortest form that round-trips.
std::string FormatValue(double v);

// Registers (idempotently) and refreshes the standard process metrics:
// process_resident_memory_bytes, process_virtual_memory_bytes,
// process_cpu_seconds_total, process_start_time_seconds, process_open_fds.
void UpdateProcessMetrics(Registry& registry);

}  // namespace eqat::metrics

#endif  // EQAT_COMMON_METRICS_H_
