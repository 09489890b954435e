#include "common/progress.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_format.h"

namespace eqat {

ProgressBar::ProgressBar(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      active_(enabled && isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_ - std::chrono::seconds(1)) {}

ProgressBar::~ProgressBar() { Finish(); }

std::string ProgressBar::FormatDuration(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  int64_t t = static_cast<int64_t>(s + 0.5);
  if (t >= 3600) return absl::StrFormat("%dh%02dm", t / 3600, (t % 3600) / 60);
  if (t >= 60) return absl::StrFormat("%dm%02ds", t / 60, t % 60);
  return absl::StrFormat("%ds", t);
}

std::string ProgressBar::Render(int64_t done, const std::string& info, double elapsed) const {
  const int width = 24;
  double frac = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 0;
  if (frac > 1) frac = 1;
  int filled = static_cast<int>(frac * width);
  std::string bar(filled, '#');
  bar.append(width - filled, '.');
  std::string eta = done > 0 ? FormatDuration(elapsed * (total_ - done) / done) : "?";
  return absl::StrFormat("%s [%s] %d/%d %s | %s elapsed, ETA %s", label_, bar, done, total_, info,
                         FormatDuration(elapsed), eta);
}

void ProgressBar::Update(int64_t done, const std::string& info) {
  if (!active_) return;
  auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  std::fprintf(stderr, "\r\033[K%s", Render(done, info, elapsed).c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::Finish() {
  if (active_ && drawn_) {
    std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }
  drawn_ = false;
}

double PeakRssMiB() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // ru_maxrss is KiB on Linux
}

}  // namespace eqat
