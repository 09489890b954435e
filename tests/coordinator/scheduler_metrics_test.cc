// The coordinator's /metrics, scraped over loopback: every family of its
// registry is named eqat_coordinator_..., so summing a worker-side name (e.g.
// eqat_blocks_completed_total) over all targets never counts a block twice.
// (exposer_* are prometheus-cpp's scrape statistics, in every process.)
#include <memory>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include "absl/strings/match.h"
#include "common/metrics_exposer.h"
#include "coordinator/scheduler.h"
#include "coordinator/sqlite_job_store.h"
#include "tests/common/http_get.h"
#include "tests/coordinator/test_util.h"

namespace eqat {
namespace {

TEST(SchedulerMetricsTest, CoordinatorNamesAreDistinctFromWorkerNames) {
  testing::TempDir tmp;
  auto store = SqliteJobStore::Open(tmp.path() + "/state");
  ASSERT_TRUE(store.ok()) << store.status();
  auto registry = std::make_shared<prometheus::Registry>();
  Scheduler sched(SchedulerOptions{}, store->get(), registry.get());
  v1::RegisterRequest reg;
  reg.set_data_address("127.0.0.1:1001");
  reg.mutable_capacity()->set_device("cpu");
  ASSERT_FALSE(sched.Register(reg).worker_id().empty());
  sched.Tick();

  auto exposer = StartMetricsExposer("127.0.0.1:0", {registry});
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  testing::HttpResponse m = testing::HttpGet((*exposer)->GetListeningPorts().at(0), "/metrics");
  ASSERT_EQ(m.status, 200);

  std::set<std::string> families;
  std::istringstream lines(m.body);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# TYPE ", 0) != 0) continue;
    std::string name = line.substr(7, line.find(' ', 7) - 7);
    if (!absl::StartsWith(name, "exposer_")) families.insert(name);
  }
  const std::set<std::string> want = {
      "eqat_coordinator_jobs",
      "eqat_coordinator_queue_depth",
      "eqat_coordinator_blocks_completed_total",
      "eqat_coordinator_block_loss",
      "eqat_coordinator_train_step_seconds",
      "eqat_coordinator_tokens_per_second",
      "eqat_coordinator_transport_bytes_total",
      "eqat_coordinator_transport_wait_seconds_total",
      "eqat_coordinator_worker_up",
      "eqat_coordinator_worker_heartbeat_age_seconds"};
  for (const std::string& name : families) {
    EXPECT_TRUE(absl::StartsWith(name, "eqat_coordinator_")) << name;
  }
  // Families with samples (prometheus-cpp leaves out empty ones, e.g. the
  // block loss before any block finished) all carry the coordinator names.
  for (const char* name :
       {"eqat_coordinator_jobs", "eqat_coordinator_queue_depth",
        "eqat_coordinator_blocks_completed_total", "eqat_coordinator_train_step_seconds",
        "eqat_coordinator_tokens_per_second", "eqat_coordinator_transport_wait_seconds_total",
        "eqat_coordinator_worker_up", "eqat_coordinator_worker_heartbeat_age_seconds"}) {
    EXPECT_EQ(families.count(name), 1u) << name << "\n--- body ---\n" << m.body;
  }
  for (const std::string& name : families) EXPECT_EQ(want.count(name), 1u) << name;
  EXPECT_TRUE(absl::StrContains(m.body, "eqat_coordinator_worker_up{worker=")) << m.body;
}

}  // namespace
}  // namespace eqat
