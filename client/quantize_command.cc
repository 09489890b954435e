// `eqat quantize`: a thin tool over the same library calls a worker makes.
// The job flags become a JobSpec (client/main.cc), ValidateJobSpec checks it
// and fills in every default, then the block stage over every block and the
// finalize stage run in this process, exactly as a one-worker cluster runs
// them (worker/stage/stage_requests.h).
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/command_util.h"
#include "client/commands.h"
#include "common/file_util.h"
#include "common/job/job_spec.h"
#include "common/job/memory_plan.h"
#include "common/progress.h"
#include "common/status_macros.h"
#include "worker/stage/stage_requests.h"

namespace eqat {
namespace {

// The job's scratch folder (packed blocks, their reports), removed on every
// way out: a failed run leaves nothing behind.
class ScratchDir {
 public:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

absl::StatusOr<StageResources> Resources(const QuantizeOptions& o) {
  StageResources r;
  ASSIGN_OR_RETURN(r.device, ParseDevice("--device", o.device));
  ASSIGN_OR_RETURN(r.cache.ram_budget_bytes, ParseByteSize("--cache-budget", o.cache_budget));
  if (!IsDirectory(o.spill_dir)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--spill-dir: '", o.spill_dir, "' is not a directory"));
  }
  r.cache.spill_dir = o.spill_dir;
  return r;
}

void PrintTable(const v1::JobSpec& s, const FinalizeResult& fr, std::ostream& out) {
  std::string label = absl::StrFormat("%s W%dg%d", s.method(), s.bits(), s.group_size());
  out << absl::StrFormat("\n%-28s %12s\n%-28s %12.4f\n", "model", "perplexity", "full precision",
                         fr.fp_ppl);
  if (fr.e2e_steps > 0) {
    out << absl::StrFormat("%-28s %12.4f\n", label + " (Block-AP)", fr.block_ap_ppl);
    out << absl::StrFormat("%-28s %12.4f\n", label + " (+E2E-QP)", fr.ppl);
  } else {
    out << absl::StrFormat("%-28s %12.4f\n", label, fr.ppl);
  }
  out << absl::StrFormat("(%d windows of %d tokens of %s)\n", fr.eval_windows, s.eval_seqlen(),
                         s.eval_text());
}

}  // namespace

absl::Status RunQuantize(const QuantizeOptions& o, std::ostream& out) {
  JobSpecRules rules;
  rules.style = FieldStyle::kFlag;
  ASSIGN_OR_RETURN(ValidatedJob job, ValidateJobSpec(o.spec, rules));
  ASSIGN_OR_RETURN(StageResources res, Resources(o));
  const v1::JobSpec& s = job.spec;
  // Refuse, before any work, a job this machine cannot hold (memory_plan.h).
  MemoryResources mr;
  mr.cache_budget_bytes = res.cache.ram_budget_bytes;
  mr.cuda = res.device.is_cuda();
  const MemoryPlan plan = EstimateMemoryPlan(job.config, s, {{0, job.num_blocks}}, mr);
  const WorkerMemory here{SystemMemoryBytes(), 0};
  for (const StageMemory& st : plan.stages) RETURN_IF_ERROR(CheckStageFits(st, here, "this machine"));
  RETURN_IF_ERROR(CheckStageFits(plan.finalize, here, "this machine"));
  return GuardTorch([&]() -> absl::Status {
    auto t0 = std::chrono::steady_clock::now();
    // Beside the output, unique to this process (a cluster job's folder is
    // JobWorkDir, so the two never meet).
    ScratchDir work(absl::StrCat(s.output_dir(), ".eqat-work-local-", getpid()));

    // Block stage: every block, inputs computed from the calibration text.
    BlockStageRequest br =
        BlockStageRequestFor(s, StageRange{work.path(), 0, job.num_blocks, 0}, res);
    const bool trains = IsTrainedMethod(br.options.method);
    const int nb = job.num_blocks;
    ProgressBar bar(trains ? (s.method() == "efficientqat" ? "block-ap" : s.method().c_str())
                           : "quantize",
                    nb, o.progress);
    bar.Update(0, "");
    br.options.on_step = [&](int block, int64_t step, int64_t total, double loss) {
      bar.SetTotal(static_cast<int64_t>(nb) * total);
      bar.Update(block * total + step, absl::StrFormat("block %d/%d step %d/%d loss %.3g",
                                                       block + 1, nb, step, total, loss));
    };
    br.options.on_block_done = [&](const BlockReport& r) {
      if (!trains) bar.Update(r.block + 1, absl::StrFormat("blocks, mse %.3g", r.output_mse));
    };
    std::map<int, uint64_t> checksums;  // finalize checks every block it reads
    br.on_block_written = [&](int block, const std::string&, uint64_t sum) {
      checksums[block] = sum;
    };
    RETURN_IF_ERROR(RunBlockStage(br, StageActivations{}).status());
    bar.Finish();
    const double block_seconds = SecondsSince(t0);
    const double block_peak_mib = PeakRssMiB();
    // Finalize: assemble, E2E-QP, write, evaluate.
    FinalizeRequest fr = FinalizeRequestFor(s, work.path(), res);
    fr.block_checksums = checksums;
    const char* e2e_stage = s.method() == "apiq" ? "e2e-lora" : "e2e-qp";
    ProgressBar e2e_bar(e2e_stage, 1, o.progress);
    fr.e2e_options.on_step = [&](int64_t step, int64_t total, double loss) {
      e2e_bar.SetTotal(total);
      e2e_bar.Update(step, absl::StrFormat("steps loss %.4f", loss));
    };
    fr.on_stage = [&](const std::string& stage) {
      if (stage != e2e_stage) e2e_bar.Finish();
    };
    ASSIGN_OR_RETURN(FinalizeResult result, RunFinalize(fr));
    e2e_bar.Finish();
    const double wall = SecondsSince(t0);

    std::string label = absl::StrFormat("%s W%dg%d", s.method(), s.bits(), s.group_size());
    out << absl::StrFormat("wrote %s (%s) in %.1fs: block stage %.1fs", s.output_dir(), label,
                           wall, block_seconds);
    if (result.e2e_steps > 0) out << absl::StrFormat(", %s %.1fs", e2e_stage, result.e2e_seconds);
    out << "\n";
    if (result.evaluated) PrintTable(s, result, out);
    if (!o.json) return absl::OkStatus();
    Json j = Json::object();
    j["method"] = s.method();
    j["bits"] = s.bits();
    j["group"] = s.group_size();
    j["out"] = s.output_dir();
    j["wall_seconds"] = wall;
    j["block_stage_seconds"] = block_seconds;
    if (result.e2e_steps > 0) j["e2e_seconds"] = result.e2e_seconds;
    if (s.method() == "apiq") j["adapter"] = JoinPath(s.output_dir(), kAdapterSubdir);
    if (result.evaluated) {
      if (result.e2e_steps > 0) j["block_ap_ppl"] = result.block_ap_ppl;
      j["fp_ppl"] = result.fp_ppl;
      j["ppl"] = result.ppl;
      j["eval_windows"] = result.eval_windows;
      j["eval_seqlen"] = s.eval_seqlen();
    }
    j["peak_rss_mib"] = PeakRssMiB();
    // The estimate this run was admitted on, beside what it measured.
    j["block_stage_peak_rss_mib"] = block_peak_mib;
    j["estimated_block_stage_mib"] = static_cast<double>(plan.stages[0].ram_bytes) / 1048576.0;
    j["estimated_finalize_mib"] = static_cast<double>(plan.finalize.ram_bytes) / 1048576.0;
    j["estimated_peak_rss_mib"] = static_cast<double>(plan.PeakRam()) / 1048576.0;
    out << DumpJson(j) << "\n";
    return absl::OkStatus();
  });
}

}  // namespace eqat
