// What eqat adds to prometheus-cpp: ProcessCollector (common/process_metrics.h)
// and StartMetricsExposer (common/metrics_exposer.h): address and bind errors
// as absl::Status, /metrics and /healthz served over loopback (exposition
// text checked here, and by promtool when it is installed).
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/strings/match.h"
#include "common/metrics_exposer.h"
#include "common/process_metrics.h"
#include "tests/common/http_get.h"

namespace eqat {
namespace {

using testing::HttpGet;
using testing::HttpResponse;

const prometheus::MetricFamily* Find(const std::vector<prometheus::MetricFamily>& families,
                                     const std::string& name) {
  for (const auto& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

double Value(const std::vector<prometheus::MetricFamily>& families, const std::string& name) {
  const prometheus::MetricFamily* f = Find(families, name);
  if (f == nullptr || f->metric.size() != 1) return -1;
  return f->type == prometheus::MetricType::Counter ? f->metric[0].counter.value
                                                    : f->metric[0].gauge.value;
}

int Port(const prometheus::Exposer& e) {
  std::vector<int> ports = e.GetListeningPorts();
  return ports.empty() ? 0 : ports[0];
}

TEST(ProcessCollectorTest, ReportsThisProcessUnderTheStandardNames) {
  ProcessCollector collector;
  std::vector<prometheus::MetricFamily> before = collector.Collect();
  using prometheus::MetricType;
  for (const auto& [name, type] :
       std::vector<std::pair<std::string, MetricType>>{
           {"process_resident_memory_bytes", MetricType::Gauge},
           {"process_virtual_memory_bytes", MetricType::Gauge},
           {"process_cpu_seconds_total", MetricType::Counter},
           {"process_start_time_seconds", MetricType::Gauge},
           {"process_open_fds", MetricType::Gauge}}) {
    const prometheus::MetricFamily* f = Find(before, name);
    ASSERT_NE(f, nullptr) << name;
    EXPECT_EQ(f->type, type) << name;
    EXPECT_EQ(f->metric.size(), 1u) << name;
    EXPECT_FALSE(f->help.empty()) << name;
  }
  const double rss = Value(before, "process_resident_memory_bytes");
  EXPECT_GT(rss, 1 << 20);  // a gtest binary is well above 1 MiB
  EXPECT_GE(Value(before, "process_virtual_memory_bytes"), rss);

  const double now = std::chrono::duration<double>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
  const double start = Value(before, "process_start_time_seconds");
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 24 * 3600);

  // CPU time grows with work; one more descriptor shows up as one more fd.
  volatile double sink = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(60);
  while (std::chrono::steady_clock::now() < until) sink = sink + 1;
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  std::vector<prometheus::MetricFamily> after = collector.Collect();
  close(fd);
  EXPECT_GT(Value(after, "process_cpu_seconds_total"), Value(before, "process_cpu_seconds_total"));
  EXPECT_EQ(Value(after, "process_open_fds"), Value(before, "process_open_fds") + 1);
  EXPECT_EQ(Value(after, "process_start_time_seconds"), start);
}

TEST(ExponentialBucketsTest, Bounds) {
  EXPECT_EQ(ExponentialBuckets(0.5, 2, 4), (std::vector<double>{0.5, 1, 2, 4}));
  EXPECT_TRUE(ExponentialBuckets(1, 10, 0).empty());
}

TEST(MetricsExposerTest, BadAddressIsInvalidArgumentNamingIt) {
  auto registry = std::make_shared<prometheus::Registry>();
  for (const char* bad : {"", "abc", "127.0.0.1:", "127.0.0.1:70000", "1.2.3:80", ":9100",
                          "example.com:9100", "127.0.0.1:80,8080", "127.0.0.1:80s", "[::1:80",
                          "9100r"}) {
    auto e = StartMetricsExposer(bad, {registry});
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StrContains(e.status().message(), std::string("'") + bad + "'"))
        << e.status();
  }
  auto null = StartMetricsExposer("127.0.0.1:0", {registry, nullptr});
  EXPECT_EQ(null.status().code(), absl::StatusCode::kInvalidArgument) << null.status();
}

TEST(MetricsExposerTest, UnbindableAddressIsUnavailableNamingIt) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto first = StartMetricsExposer("127.0.0.1:0", {registry});
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string used = "127.0.0.1:" + std::to_string(Port(**first));
  ASSERT_NE(used, "127.0.0.1:0");
  // 192.0.2.1 (TEST-NET-1) is no address of this machine: bind() fails
  // locally, nothing is sent.
  for (const std::string& addr : {used, std::string("192.0.2.1:9100")}) {
    auto e = StartMetricsExposer(addr, {registry});
    ASSERT_FALSE(e.ok()) << addr;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kUnavailable) << e.status();
    EXPECT_TRUE(absl::StrContains(e.status().message(), "'" + addr + "'")) << e.status();
  }
  // The first server is unaffected by the failed attempt on its port.
  EXPECT_EQ(HttpGet(Port(**first), "/healthz").status, 200);
}

TEST(MetricsExposerTest, ServesMetricsAndHealthzOverLoopback) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto process = std::make_shared<ProcessCollector>();
  auto& scrapes = prometheus::BuildCounter()
                      .Name("eqat_test_scrapes_total")
                      .Help("Test counter.")
                      .Register(*registry);
  scrapes.Add({{"kind", "a"}}).Increment(2);
  prometheus::Gauge& depth =
      prometheus::BuildGauge().Name("eqat_test_depth").Help("Test gauge.").Register(*registry).Add({});
  depth.Set(7);
  prometheus::Histogram& step = prometheus::BuildHistogram()
                                    .Name("eqat_test_step_seconds")
                                    .Help("Test histogram.")
                                    .Register(*registry)
                                    .Add({}, ExponentialBuckets(0.5, 2, 3));
  for (double v : {0.25, 1.5, 10.0}) step.Observe(v);

  auto exposer = StartMetricsExposer("localhost:0", {registry, process});
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  const int port = Port(**exposer);
  ASSERT_GT(port, 0);

  HttpResponse m = HttpGet(port, "/metrics");
  ASSERT_EQ(m.status, 200) << m.headers;
  EXPECT_TRUE(absl::StrContains(m.headers, "Content-Type: text/plain"))
      << m.headers;
  for (const char* line : {"# TYPE eqat_test_scrapes_total counter\n",
                           "eqat_test_scrapes_total{kind=\"a\"} 2\n",
                           "# TYPE eqat_test_depth gauge\n", "eqat_test_depth 7\n",
                           "# TYPE eqat_test_step_seconds histogram\n",
                           "eqat_test_step_seconds_bucket{le=\"0.5\"} 1\n",
                           "eqat_test_step_seconds_bucket{le=\"1\"} 1\n",
                           "eqat_test_step_seconds_bucket{le=\"2\"} 2\n",
                           "eqat_test_step_seconds_bucket{le=\"+Inf\"} 3\n",
                           "eqat_test_step_seconds_sum 11.75\n",
                           "eqat_test_step_seconds_count 3\n",
                           "# TYPE process_resident_memory_bytes gauge\n",
                           "# TYPE process_cpu_seconds_total counter\n"}) {
    EXPECT_TRUE(absl::StrContains(m.body, line)) << line << "--- body ---\n" << m.body;
  }
  // Every scrape collects afresh.
  depth.Set(-3);
  EXPECT_TRUE(absl::StrContains(HttpGet(port, "/metrics").body, "eqat_test_depth -3\n"));

  HttpResponse h = HttpGet(port, "/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_FALSE(absl::StrContains(h.body, "eqat_test")) << h.body;
  EXPECT_EQ(HttpGet(port, "/").status, 404);
  EXPECT_EQ(HttpGet(port, "/nothing").status, 404);

  // The Exposer only holds weak references: what the caller drops is gone.
  process.reset();
  EXPECT_FALSE(absl::StrContains(HttpGet(port, "/metrics").body, "process_"));

  exposer->reset();
  EXPECT_EQ(HttpGet(port, "/metrics").status, 0);  // stopped, port closed
}

// Slow clients (a partial request, one byte every 300 ms) must not starve
// /healthz, the liveness probe: it answers at once while 6 of them trickle.
TEST(MetricsExposerTest, HealthzAnswersWhileSlowClientsTrickle) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto exposer = StartMetricsExposer("127.0.0.1:0", {registry});
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  const int port = Port(**exposer);
  std::vector<int> slow;
  for (int i = 0; i < 6; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    const std::string head = "GET /metrics HTTP/1.1\r\nX-Slow: ";
    ASSERT_EQ(write(fd, head.data(), head.size()), static_cast<ssize_t>(head.size()));
    slow.push_back(fd);
  }
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    while (!stop) {
      for (int fd : slow) (void)!send(fd, "a", 1, MSG_NOSIGNAL);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // all are being read
  for (int probe = 0; probe < 3; ++probe) {
    const auto t0 = std::chrono::steady_clock::now();
    HttpResponse h = HttpGet(port, "/healthz");
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(h.status, 200) << "probe " << probe;
    EXPECT_LT(s, 2.0) << "probe " << probe;
  }
  stop = true;
  trickle.join();
  for (int fd : slow) close(fd);
}

TEST(MetricsPromtoolTest, ScrapedTextPassesPromtoolCheckMetrics) {
  const std::string promtool = "/usr/bin/promtool";
  if (access(promtool.c_str(), X_OK) != 0) GTEST_SKIP() << "no " << promtool;

  auto registry = std::make_shared<prometheus::Registry>();
  auto process = std::make_shared<ProcessCollector>();
  auto& jobs = prometheus::BuildCounter()
                   .Name("eqat_test_jobs_completed_total")
                   .Help("Jobs finished, by outcome.")
                   .Labels({{"service", "test"}})
                   .Register(*registry);
  jobs.Add({{"outcome", "ok"}}).Increment(12);
  jobs.Add({{"outcome", "failed"}}).Increment();
  // Label values are escaped; HELP text is not (prometheus-cpp 1.0.1 writes
  // it verbatim), so help strings stay one line without backslashes.
  auto& mem = prometheus::BuildGauge()
                  .Name("eqat_test_memory_bytes")
                  .Help("Memory in use per device.")
                  .Register(*registry);
  mem.Add({{"device", "0"}}).Set(1.5e9);
  mem.Add({{"device", "we\"ird\\name\nx"}}).Set(0.25);
  auto& lat = prometheus::BuildHistogram()
                  .Name("eqat_test_block_duration_seconds")
                  .Help("Wall time per block.")
                  .Register(*registry);
  prometheus::Histogram& h = lat.Add({{"stage", "train"}}, ExponentialBuckets(0.001, 10, 6));
  for (double v : {0.0005, 0.02, 0.3, 4.0, 1e6}) h.Observe(v);

  auto exposer = StartMetricsExposer("127.0.0.1:0", {registry, process});
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  HttpResponse resp = HttpGet(Port(**exposer), "/metrics");
  ASSERT_EQ(resp.status, 200);
  ASSERT_TRUE(absl::StrContains(resp.body, "process_start_time_seconds")) << resp.body;

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
}  // namespace eqat

namespace eqat {
namespace {

std::string WriteTestFile(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(MetricsExposerTest, BasicAuthGuardsMetricsButNotHealthz) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge().Name("eqat_test_guarded").Help("Test gauge.").Register(*registry).Add({});
  MetricsServerOptions o;
  o.basic_auth_file = WriteTestFile("eqat_metrics_auth", "scraper:s3cret-pw\n");
  auto exposer = StartMetricsExposer("localhost:0", {registry}, o);
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  const int port = Port(**exposer);
  HttpResponse none = HttpGet(port, "/metrics");
  EXPECT_EQ(none.status, 401);
  EXPECT_FALSE(absl::StrContains(none.body, "eqat_test_guarded"));
  // base64("scraper:wrong") and base64("scraper:s3cret-pw")
  HttpResponse wrong = HttpGet(port, "/metrics", "Authorization: Basic c2NyYXBlcjp3cm9uZw==\r\n");
  EXPECT_EQ(wrong.status, 401);
  HttpResponse good =
      HttpGet(port, "/metrics", "Authorization: Basic c2NyYXBlcjpzM2NyZXQtcHc=\r\n");
  EXPECT_EQ(good.status, 200);
  EXPECT_TRUE(absl::StrContains(good.body, "eqat_test_guarded"));
  EXPECT_EQ(HttpGet(port, "/healthz").status, 200);
}

TEST(MetricsExposerTest, BadProtectionFilesNameTheFlagAndNeverThePassword) {
  auto registry = std::make_shared<prometheus::Registry>();
  MetricsServerOptions o;
  o.basic_auth_file = WriteTestFile("eqat_metrics_auth_bad", "no-colon-here-secretword\n");
  auto bad = StartMetricsExposer("localhost:0", {registry}, o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "--metrics-auth-file"));
  EXPECT_FALSE(absl::StrContains(bad.status().message(), "secretword"));
  o.basic_auth_file = "/nonexistent/auth";
  EXPECT_EQ(StartMetricsExposer("localhost:0", {registry}, o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace eqat
