#include "common/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "common/metrics_http.h"

namespace eqat::metrics {
namespace {

TEST(MetricsTest, CounterGaugeHistogramValues) {
  Counter c;
  c.Increment();
  c.Increment(2.5);
  c.Increment(-4);   // ignored
  c.Increment(NAN);  // ignored
  EXPECT_DOUBLE_EQ(c.Value(), 3.5);

  Gauge g;
  g.Set(10);
  g.Increment();
  g.Decrement(3);
  EXPECT_DOUBLE_EQ(g.Value(), 8);
  g.SetToCurrentTime();
  EXPECT_GT(g.Value(), 1.6e9);

  Histogram h({2.5, 0.5, 1, 1});  // sorted and de-duplicated
  EXPECT_EQ(h.boundaries(), (BucketBoundaries{0.5, 1, 2.5}));
  for (double v : {0.25, 0.5, 2.0, 10.0}) h.Observe(v);
  EXPECT_EQ(h.Count(), 4u);
  EXPECT_DOUBLE_EQ(h.Sum(), 12.75);
  EXPECT_EQ(h.CumulativeCounts(), (std::vector<uint64_t>{2, 2, 3, 4}));
}

TEST(MetricsTest, FormatValue) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(-7), "-7");
  EXPECT_EQ(FormatValue(1e15), "1000000000000000");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(2.5), "2.5");
  EXPECT_EQ(FormatValue(INFINITY), "+Inf");
  EXPECT_EQ(FormatValue(-INFINITY), "-Inf");
  EXPECT_EQ(FormatValue(NAN), "NaN");
  EXPECT_EQ(std::stod(FormatValue(1.0 / 3)), 1.0 / 3);  // round-trips
}

TEST(MetricsTest, ExactTextOutput) {
  Registry r;
  auto& blocks = BuildCounter()
                     .Name("eqat_blocks_completed_total")
                     .Help("Blocks done.\nSecond \\ line")
                     .Labels({{"service", "worker"}})
                     .Register(r);
  blocks.Add({{"zone", "b"}, {"path", "a\"b\\c\nd"}}).Increment(3);
  BuildGauge().Name("eqat_queue_depth_jobs").Help("Queue depth.").Register(r).Add({}).Set(2.5);
  auto& dur = BuildHistogram()
                  .Name("eqat_block_duration_seconds")
                  .Help("Block time.")
                  .Register(r)
                  .Add({{"stage", "train"}}, BucketBoundaries{0.5, 1, 2.5});
  for (double v : {0.25, 0.5, 2.0, 10.0}) dur.Observe(v);
  // Registered but never Add()ed: not exported.
  BuildGauge().Name("eqat_empty_family_bytes").Help("x").Register(r);

  const std::string expected =
      R"(# HELP eqat_block_duration_seconds Block time.
# TYPE eqat_block_duration_seconds histogram
eqat_block_duration_seconds_bucket{le="0.5",stage="train"} 2
eqat_block_duration_seconds_bucket{le="1",stage="train"} 2
eqat_block_duration_seconds_bucket{le="2.5",stage="train"} 3
eqat_block_duration_seconds_bucket{le="+Inf",stage="train"} 4
eqat_block_duration_seconds_sum{stage="train"} 12.75
eqat_block_duration_seconds_count{stage="train"} 4
# HELP eqat_blocks_completed_total Blocks done.\nSecond \\ line
# TYPE eqat_blocks_completed_total counter
eqat_blocks_completed_total{path="a\"b\\c\nd",service="worker",zone="b"} 3
# HELP eqat_queue_depth_jobs Queue depth.
# TYPE eqat_queue_depth_jobs gauge
eqat_queue_depth_jobs 2.5
)";
  EXPECT_EQ(SerializeText(r), expected);
}

TEST(MetricsTest, SameLabelsSameInstanceAndRemove) {
  Registry r;
  auto& fam = BuildCounter().Name("eqat_test_events_total").Help("h").Register(r);
  Counter& a = fam.Add({{"k", "v"}, {"x", "1"}});
  Counter& b = fam.Add({{"x", "1"}, {"k", "v"}});
  Counter& c = fam.Add({{"k", "other"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
  // Same name and type -> same family.
  EXPECT_EQ(&fam, &BuildCounter().Name("eqat_test_events_total").Help("h").Register(r));

  a.Increment(5);
  fam.Remove(&a);
  EXPECT_FALSE(fam.Has({{"k", "v"}, {"x", "1"}}));
  EXPECT_FALSE(absl::StrContains(SerializeText(r), "x=\"1\""));
  EXPECT_DOUBLE_EQ(fam.Add({{"k", "v"}, {"x", "1"}}).Value(), 0);
  fam.Remove(nullptr);  // unknown: no-op
}

TEST(MetricsTest, ConcurrentUpdatesAddUpExactly) {
  Registry r;
  auto& counters = BuildCounter().Name("eqat_test_ops_total").Help("h").Register(r);
  auto& gauges = BuildGauge().Name("eqat_test_level_units").Help("h").Register(r);
  auto& hists = BuildHistogram().Name("eqat_test_latency_seconds").Help("h").Register(r);
  constexpr int kThreads = 4, kIters = 50000;
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done.load()) SerializeText(r);
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIters; ++i) {
        counters.Add({{"op", "x"}}).Increment();
        gauges.Add({}).Increment(2);
        gauges.Add({}).Decrement();
        hists.Add({}, BucketBoundaries{1, 10}).Observe(i % 20);
      }
    });
  }
  for (auto& t : threads) t.join();
  done = true;
  scraper.join();
  EXPECT_EQ(counters.Add({{"op", "x"}}).Value(), kThreads * kIters);
  EXPECT_EQ(gauges.Add({}).Value(), kThreads * kIters);
  Histogram& h = hists.Add({}, BucketBoundaries{});
  EXPECT_EQ(h.Count(), uint64_t{kThreads} * kIters);
  // i % 20 in [0,19]: 2 of 20 values <= 1, 11 of 20 <= 10.
  EXPECT_EQ(h.CumulativeCounts(),
            (std::vector<uint64_t>{kThreads * kIters / 10, kThreads * kIters * 11 / 20,
                                   uint64_t{kThreads} * kIters}));
}

TEST(MetricsTest, InvalidNamesDoNotCrashAndAreNotExported) {
  Registry r;
  auto& bad = BuildCounter().Name("bad-name_total").Help("h").Register(r);
  bad.Add({}).Increment();
  auto& empty = BuildGauge().Name("").Help("h").Register(r);
  empty.Add({}).Set(1);
  auto& bad_const =
      BuildGauge().Name("eqat_test_const_units").Help("h").Labels({{"1x", "v"}}).Register(r);
  bad_const.Add({}).Set(1);

  auto& good = BuildGauge().Name("eqat_test_good_units").Help("h").Register(r);
  good.Add({}).Set(1);
  // Same name, other type -> detached family, no crash.
  auto& clash = BuildCounter().Name("eqat_test_good_units").Help("h").Register(r);
  clash.Add({}).Increment(7);
  EXPECT_DOUBLE_EQ(clash.Add({}).Value(), 7);

  // Bad label names / reserved / clash with const label -> detached metrics.
  good.Add({{"bad-label", "v"}}).Set(2);
  good.Add({{"__reserved", "v"}}).Set(3);
  auto& h = BuildHistogram().Name("eqat_test_h_seconds").Help("h").Labels({{"a", "1"}}).Register(r);
  h.Add({{"le", "1"}}, BucketBoundaries{1}).Observe(1);
  h.Add({{"a", "2"}}, BucketBoundaries{1}).Observe(1);
  // Detached metrics are fresh each time (never shared with exported ones).
  EXPECT_NE(&good.Add({{"bad-label", "v"}}), &good.Add({}));

  EXPECT_EQ(SerializeText(r),
            "# HELP eqat_test_good_units h\n# TYPE eqat_test_good_units gauge\n"
            "eqat_test_good_units 1\n");
}

// ---- HTTP ----

struct HttpResponse {
  int status = 0;
  std::string headers;
  std::string body;
};

// Minimal HTTP/1.0 client: one request, reads until the server closes.
HttpResponse HttpRequest(int port, const std::string& method, const std::string& path) {
  HttpResponse resp;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return resp;
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return resp;
  }
  std::string req = method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  send(fd, req.data(), req.size(), 0);
  std::string raw;
  char buf[4096];
  for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) raw.append(buf, n);
  close(fd);
  size_t sep = raw.find("\r\n\r\n");
  if (sep == std::string::npos || raw.compare(0, 5, "HTTP/") != 0) return resp;
  resp.headers = raw.substr(0, sep);
  resp.body = raw.substr(sep + 4);
  resp.status = std::atoi(raw.c_str() + raw.find(' ') + 1);
  return resp;
}

TEST(ExposerTest, ServesMetricsHealthzAnd404) {
  Registry r;
  BuildCounter().Name("eqat_test_scrapes_total").Help("h").Register(r).Add({}).Increment(2);
  auto exposer = Exposer::Create("127.0.0.1:0", &r);
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  int port = (*exposer)->port();
  ASSERT_GT(port, 0);
  std::atomic<int> hook_calls{0};
  (*exposer)->SetPreScrapeHook([&] { ++hook_calls; });

  HttpResponse m = HttpRequest(port, "GET", "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_TRUE(absl::StrContains(
      m.headers, "Content-Type: text/plain; version=0.0.4; charset=utf-8"))
      << m.headers;
  EXPECT_EQ(m.body, SerializeText(r));
  EXPECT_TRUE(absl::StrContains(m.body, "eqat_test_scrapes_total 2\n"));
  EXPECT_EQ(hook_calls, 1);

  HttpResponse q = HttpRequest(port, "GET", "/metrics?x=1");
  EXPECT_EQ(q.status, 200);
  HttpResponse head = HttpRequest(port, "HEAD", "/metrics");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");

  HttpResponse h = HttpRequest(port, "GET", "/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, "ok");
  EXPECT_EQ(HttpRequest(port, "GET", "/").status, 404);
  EXPECT_EQ(HttpRequest(port, "GET", "/metricsx").status, 404);
  EXPECT_EQ(HttpRequest(port, "GET", "/metrics/x").status, 404);
  EXPECT_EQ(HttpRequest(port, "POST", "/metrics").status, 405);
  (*exposer)->SetPreScrapeHook(nullptr);
  HttpRequest(port, "GET", "/metrics");
  EXPECT_EQ(hook_calls, 3);  // /metrics, /metrics?x=1, HEAD
}

TEST(ExposerTest, BadAddressAndPortInUse) {
  Registry r;
  for (const char* bad : {"", "abc", "127.0.0.1:", "127.0.0.1:70000", "1.2.3:80",
                          "example.com:9100", "127.0.0.1:80,8080", "127.0.0.1:80s"}) {
    auto e = Exposer::Create(bad, &r);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StrContains(e.status().message(), std::string("'") + bad + "'"))
        << e.status();
  }
  EXPECT_EQ(Exposer::Create("127.0.0.1:0", nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto first = Exposer::Create("127.0.0.1:0", &r);
  ASSERT_TRUE(first.ok()) << first.status();
  std::string addr = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = Exposer::Create(addr, &r);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
  EXPECT_TRUE(absl::StrContains(second.status().message(), addr)) << second.status();
}

TEST(MetricsPromtoolTest, ScrapedTextPassesPromtoolCheckMetrics) {
  const std::string promtool = "/usr/bin/promtool";
  if (access(promtool.c_str(), X_OK) != 0) GTEST_SKIP() << "no " << promtool;

  Registry r;
  auto& jobs = BuildCounter()
                   .Name("eqat_jobs_completed_total")
                   .Help("Jobs finished, by outcome.")
                   .Labels({{"service", "coordinator"}})
                   .Register(r);
  jobs.Add({{"outcome", "ok"}}).Increment(12);
  jobs.Add({{"outcome", "failed"}}).Increment();
  auto& mem = BuildGauge()
                  .Name("eqat_worker_gpu_memory_bytes")
                  .Help("GPU memory in use.\nPer device, \"quoted\" \\ text.")
                  .Register(r);
  mem.Add({{"device", "0"}}).Set(1.5e9);
  mem.Add({{"device", "we\"ird\\name\nx"}}).Set(0.25);
  BuildGauge().Name("eqat_queue_depth_jobs").Help("Queued jobs.").Register(r).Add({}).Set(-3);
  BuildGauge().Name("eqat_test_ratio").Help("A ratio.").Register(r).Add({}).Set(NAN);
  auto& lat = BuildHistogram()
                  .Name("eqat_block_duration_seconds")
                  .Help("Wall time per block.")
                  .Register(r);
  Histogram& h = lat.Add({{"stage", "train"}}, ExponentialBuckets(0.001, 10, 6));
  for (double v : {0.0005, 0.02, 0.3, 4.0, 1e6}) h.Observe(v);
  lat.Add({{"stage", "eval"}}, LinearBuckets(0.5, 0.5, 4)).Observe(1.25);

  auto exposer = Exposer::Create("127.0.0.1:0", &r);
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  (*exposer)->SetPreScrapeHook([&r] { UpdateProcessMetrics(r); });
  HttpResponse resp = HttpRequest((*exposer)->port(), "GET", "/metrics");
  ASSERT_EQ(resp.status, 200);
  for (const char* name : {"process_resident_memory_bytes", "process_cpu_seconds_total",
                           "process_start_time_seconds", "eqat_block_duration_seconds_bucket",
                           "le=\"+Inf\""}) {
    EXPECT_TRUE(absl::StrContains(resp.body, name)) << name;
  }

  const std::string path = ::testing::TempDir() + "/eqat_metrics_promtool.txt";
  {
    std::ofstream out(path);
    out << resp.body;
  }
  const std::string cmd = promtool + " check metrics < " + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string output;
  char buf[512];
  while (fgets(buf, sizeof(buf), p) != nullptr) output += buf;
  int rc = pclose(p);
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 0) << output << "\n--- scraped ---\n" << resp.body;
  EXPECT_EQ(output, "") << "\n--- scraped ---\n" << resp.body;
  std::remove(path.c_str());
}

}  // namespace
}  // namespace eqat::metrics
