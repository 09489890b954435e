// A one-line progress display for long CLI work: label, done/total, a bar,
// free text (loss, step) and an ETA from the elapsed time. Draws on stderr
// with '\r' only when stderr is a TTY (and enabled); otherwise silent, so
// logs and --json output stay clean.
// Thread-safety: not thread-safe; one owner updates it.
#ifndef EQAT_COMMON_PROGRESS_H_
#define EQAT_COMMON_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <string>

namespace eqat {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, bool enabled = true);
  ~ProgressBar();
  // Redraws at most every 100 ms (always when done == total).
  void Update(int64_t done, const std::string& info = "");
  void SetTotal(int64_t total) { total_ = total; }
  void SetLabel(std::string label) { label_ = std::move(label); }
  // Ends the line (prints a newline once if something was drawn).
  void Finish();
  bool active() const { return active_; }

  // "1h02m", "3m05s", "42s".
  static std::string FormatDuration(double seconds);
  // The text that would be drawn (without '\r'), for tests.
  std::string Render(int64_t done, const std::string& info, double elapsed_s) const;

 private:
  std::string label_;
  int64_t total_;
  bool active_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// Peak resident set size of this process in MiB (getrusage).
double PeakRssMiB();

}  // namespace eqat

#endif  // EQAT_COMMON_PROGRESS_H_
