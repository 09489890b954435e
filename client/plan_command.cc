// `eqat inspect --plan`: the memory plan of a job on this model (common/job/
// memory_plan.h), per stage of an even split over --workers and for the
// finalize stage, without loading any weights.
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/commands.h"
#include "common/byte_size.h"
#include "common/file_util.h"
#include "common/job/job_spec.h"
#include "common/job/memory_plan.h"
#include "common/status_macros.h"

namespace eqat {
namespace {

std::string Absolute(const std::string& p) {
  std::error_code ec;
  auto a = std::filesystem::absolute(p, ec);
  return ec ? p : a.lexically_normal().string();
}

// Even split, as the coordinator plans workers of equal (or unreported) memory.
std::vector<std::pair<int, int>> EvenRanges(int blocks, int stages) {
  std::vector<std::pair<int, int>> out;
  int n = std::max(1, std::min(stages, blocks)), first = 0;
  for (int i = 0; i < n; ++i) {
    int size = blocks / n + (i < blocks % n ? 1 : 0);
    out.emplace_back(first, first + size);
    first += size;
  }
  return out;
}

}  // namespace

absl::StatusOr<Json> PrintMemoryPlan(const InspectOptions& o, std::ostream& out) {
  if (o.workers < 1) return absl::InvalidArgumentError("--workers: must be >= 1");
  ASSIGN_OR_RETURN(int64_t budget, ParseByteSize("--cache-budget", o.cache_budget));
  if (o.device != "cpu" && o.device.rfind("cuda", 0) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--device: '", o.device, "' is not cpu, cuda or cuda:N"));
  }
  v1::JobSpec spec = o.spec;
  spec.set_model_dir(Absolute(o.model));
  // The plan reads no data: stand-ins for the paths a job needs but a plan
  // does not read (the model's config.json is a readable file).
  const std::string any_file = JoinPath(spec.model_dir(), "config.json");
  if (spec.calib_path().empty() && spec.method() != "rtn") spec.set_calib_path(any_file);
  if (spec.output_dir().empty()) {
    spec.set_output_dir(absl::StrCat("/tmp/eqat-inspect-plan-", getpid(), "-does-not-exist"));
  }
  JobSpecRules rules;
  rules.style = FieldStyle::kFlag;
  ASSIGN_OR_RETURN(ValidatedJob job, ValidateJobSpec(spec, rules));
  MemoryResources r;
  r.cache_budget_bytes = budget;
  r.cuda = o.device != "cpu";
  std::vector<std::pair<int, int>> ranges = EvenRanges(job.num_blocks, o.workers);
  MemoryPlan plan = EstimateMemoryPlan(job.config, job.spec, ranges, r);
  const int64_t ram = SystemMemoryBytes();
  out << absl::StrFormat(
      "memory plan: %s W%dg%d, %d samples x %d tokens, %d stage(s), cache budget %s per set, %s\n",
      job.spec.method(), job.spec.bits(), job.spec.group_size(), job.spec.samples(),
      job.spec.seqlen(), static_cast<int>(ranges.size()), HumanBytes(budget), o.device);
  out << MemoryPlanText(plan);
  out << absl::StrFormat("  this machine: %s RAM%s\n", HumanBytes(ram),
                         plan.PeakRam() > ram ? " (too little for this job)" : "");
  Json j = MemoryPlanJson(plan);
  j["workers"] = o.workers;
  j["cache_budget_bytes"] = budget;
  j["device"] = o.device;
  j["machine_ram_bytes"] = ram;
  return j;
}

}  // namespace eqat
