#include "common/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace eqat {
namespace {

prometheus::MetricFamily One(const char* name, const char* help, prometheus::MetricType type,
                             double value) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  f.metric.emplace_back();
  if (type == prometheus::MetricType::Counter) {
    f.metric.back().counter.value = value;
  } else {
    f.metric.back().gauge.value = value;
  }
  return f;
}

// Seconds since the epoch at which this process started (field 22 of
// /proc/self/stat, in clock ticks after boot, plus btime); 0 if unknown.
double ProcessStartTime() {
  std::ifstream stat_in("/proc/self/stat");
  std::string line;
  std::getline(stat_in, line);
  size_t close = line.rfind(')');  // the command name may contain spaces
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22 && (rest >> field); ++i) {
  }
  if (!rest) return 0;
  double start_ticks = std::strtod(field.c_str(), nullptr);
  std::ifstream proc_stat("/proc/stat");
  double btime = 0;
  for (std::string l; std::getline(proc_stat, l);) {
    if (l.rfind("btime ", 0) == 0) btime = std::strtod(l.c_str() + 6, nullptr);
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

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  double vsize_pages = 0, rss_pages = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%lf %lf", &vsize_pages, &rss_pages) == 2) {
      out.push_back(One("process_resident_memory_bytes", "Resident memory size in bytes.",
                        MetricType::Gauge, rss_pages * page));
      out.push_back(One("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                        MetricType::Gauge, vsize_pages * page));
    }
    std::fclose(f);
  }
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec / 1e6;
    out.push_back(One("process_cpu_seconds_total",
                      "Total user and system CPU time spent in seconds.", MetricType::Counter,
                      cpu));
  }
  static const double start_time = ProcessStartTime();
  if (start_time > 0) {
    out.push_back(One("process_start_time_seconds",
                      "Start time of the process since unix epoch in seconds.",
                      MetricType::Gauge, start_time));
  }
  if (int fds = CountOpenFds(); fds >= 0) {
    out.push_back(One("process_open_fds", "Number of open file descriptors.",
                      MetricType::Gauge, fds));
  }
  return out;
}

}  // namespace eqat
