#include "common/job/job_spec.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/job/job_flags.h"
#include "common/output_dir.h"
#include "common/quant_spec.h"
#include "common/safetensors.h"
#include "common/output_format.h"
#include "common/status_macros.h"

namespace eqat {
namespace fs = std::filesystem;

std::string FieldName(const std::string& field, FieldStyle style) {
  if (style == FieldStyle::kWire) return absl::StrCat("spec.", field);
  const JobFlag* f = FlagForField(field);
  std::string name(f != nullptr ? f->flag : std::string(field));
  for (char& c : name) c = c == '_' ? '-' : c;
  return absl::StrCat("--", name);
}

absl::Status CheckSpecComplete(const v1::JobSpec& spec) {
  const auto* desc = spec.GetDescriptor();
  const auto* refl = spec.GetReflection();
  for (int i = 0; i < desc->field_count(); ++i) {
    const auto* f = desc->field(i);
    if (f->has_presence() && !refl->HasField(spec, f)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "spec.", f->name(), " is unset: workers take only specs the coordinator validated"));
    }
  }
  if (!spec.format().empty()) {
    absl::Status st = ParseOutputFormat(spec.format(), "spec.format").status();
    if (!st.ok()) return absl::FailedPreconditionError(st.message());
  }
  return absl::OkStatus();
}

bool RunsE2e(const v1::JobSpec& s) {
  return (s.method() == "efficientqat" && !s.skip_e2e()) || (s.method() == "apiq" && s.e2e_lora());
}

bool InAllowedRoots(const std::string& path, const std::vector<std::string>& roots) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::path(path), ec);
  if (ec) return false;
  for (const std::string& r : roots) {
    fs::path root = fs::weakly_canonical(fs::path(r), ec);
    if (ec) continue;
    auto pi = p.begin();
    auto ri = root.begin();
    for (; ri != root.end() && pi != p.end() && *pi == *ri; ++pi, ++ri) {
    }
    if (ri == root.end() || (std::next(ri) == root.end() && ri->empty())) return true;
  }
  return false;
}

absl::Status CheckStillInRoots(const std::string& field, const std::string& path,
                               const std::vector<std::string>& roots) {
  if (roots.empty() || InAllowedRoots(path, roots)) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      field, ": ", path.substr(0, 200),
      " now resolves outside the coordinator's allowed roots (a symbolic link changed after the "
      "job was accepted); nothing was written"));
}

namespace {

// A user-given string for an error message: quoted, and cut to 120 bytes so
// a multi-megabyte field never comes back in the error.
std::string Quote(const std::string& v) {
  constexpr size_t kMax = 120;
  if (v.size() <= kMax) return absl::StrCat("'", v, "'");
  return absl::StrCat("'", v.substr(0, kMax), "...' (", v.size(), " bytes)");
}

// One validation run: the rules, the spec being filled in, and the field
// namer. Each Check* fills its field's default or returns the error.
class Checker {
 public:
  Checker(const v1::JobSpec& in, const JobSpecRules& rules) : s_(in), rules_(rules) {}

  v1::JobSpec& spec() { return s_; }

  absl::Status Bad(const std::string& field, const std::string& why) const {
    return absl::InvalidArgumentError(absl::StrCat(Name(field), ": ", why));
  }
  std::string Name(const std::string& field) const { return FieldName(field, rules_.style); }

  // A path the job reads or writes: absolute (when required), inside the
  // allowed roots (when given).
  absl::Status CheckPlace(const std::string& field, const std::string& path) const {
    if (path.empty()) return Bad(field, "is required");
    if (rules_.require_absolute_paths && path[0] != '/') {
      return Bad(field, absl::StrCat(Quote(path), " must be an absolute path"));
    }
    if (rules_.allowed_roots.has_value() && !InAllowedRoots(path, *rules_.allowed_roots)) {
      return Bad(field, absl::StrCat(Quote(path), " is outside the coordinator's allowed roots"));
    }
    return absl::OkStatus();
  }

  // A readable regular file.
  absl::Status CheckInputFile(const std::string& field, const std::string& path) const {
    RETURN_IF_ERROR(CheckPlace(field, path));
    if (!PathExists(path)) return Bad(field, absl::StrCat(Quote(path), " does not exist"));
    if (IsDirectory(path)) return Bad(field, absl::StrCat(Quote(path), " is a directory"));
    if (access(path.c_str(), R_OK) != 0) {
      return Bad(field, absl::StrCat(Quote(path), " is not readable"));
    }
    return absl::OkStatus();
  }

  // Sets an unset count to `def`; a set one must be in [min, max].
  template <typename Has, typename Get, typename Set, typename T>
  absl::Status Count(const std::string& field, Has has, Get get, Set set, T def, T min, T max) {
    if (!(s_.*has)()) {
      (s_.*set)(def);
      return absl::OkStatus();
    }
    if ((s_.*get)() < min) {
      return Bad(field, absl::StrCat((s_.*get)(), " must be >= ", min));
    }
    if ((s_.*get)() > max) {
      return Bad(field, absl::StrCat((s_.*get)(), " exceeds the limit of ", max));
    }
    return absl::OkStatus();
  }

  // Sets an unset learning rate to `def`; a set one must be finite and > 0.
  template <typename Has, typename Get, typename Set>
  absl::Status Rate(const std::string& field, Has has, Get get, Set set, double def) {
    if (!(s_.*has)()) {
      (s_.*set)(def);
      return absl::OkStatus();
    }
    double v = (s_.*get)();
    if (!(v > 0) || !std::isfinite(v)) {
      return Bad(field, absl::StrCat(v, " must be a finite number > 0"));
    }
    if (v > job_defaults::kMaxLearningRate) {
      return Bad(field, absl::StrCat(v, " exceeds the limit of ", job_defaults::kMaxLearningRate));
    }
    return absl::OkStatus();
  }

  // Sets an unset window length to `def`; a set one must be in [2, max_pos].
  template <typename Has, typename Get, typename Set>
  absl::Status Seqlen(const std::string& field, Has has, Get get, Set set, int64_t def,
                      int64_t max_pos) {
    if (!(s_.*has)()) {
      (s_.*set)(def);
      return absl::OkStatus();
    }
    int64_t v = (s_.*get)();
    if (v < 2) return Bad(field, absl::StrCat(v, " must be >= 2"));
    if (v > max_pos) {
      return Bad(field, absl::StrCat(v, " exceeds the model's context of ", max_pos,
                                     " tokens (max_position_embeddings)"));
    }
    return absl::OkStatus();
  }

  absl::Status WithName(const std::string& field, const absl::Status& st) const {
    if (st.ok()) return st;
    return absl::Status(st.code(), absl::StrCat(Name(field), ": ", st.message()));
  }

 private:
  v1::JobSpec s_;
  const JobSpecRules& rules_;
};

absl::Status CheckModel(Checker& c, ModelConfig* cfg) {
  v1::JobSpec& s = c.spec();
  RETURN_IF_ERROR(c.CheckPlace("model_dir", s.model_dir()));
  const std::string& dir = s.model_dir();
  if (!IsDirectory(dir)) return c.Bad("model_dir", absl::StrCat(Quote(dir), " is not a directory"));
  if (!PathExists(JoinPath(dir, "config.json"))) {
    return c.Bad("model_dir",
                 absl::StrCat(Quote(dir), " has no config.json (expected a Hugging Face folder)"));
  }
  absl::StatusOr<ModelConfig> loaded = LoadModelConfig(dir);
  RETURN_IF_ERROR(c.WithName("model_dir", loaded.status()));
  if (loaded->quantization.present) {
    return c.Bad("model_dir", "is already quantized; give a full-precision model");
  }
  // Every tensor header is checked here, before any work starts.
  RETURN_IF_ERROR(c.WithName("model_dir", SafetensorsModel::Open(dir).status()));
  *cfg = *std::move(loaded);
  return absl::OkStatus();
}

absl::Status CheckQuantization(Checker& c) {
  v1::JobSpec& s = c.spec();
  if (s.method().empty()) s.set_method(job_defaults::kMethod);
  if (s.method() != "efficientqat" && s.method() != "gptq" && s.method() != "rtn" &&
      s.method() != "lrqat" && s.method() != "apiq") {
    return c.Bad("method", absl::StrCat(Quote(s.method()),
                                        " is not efficientqat, gptq, rtn, lrqat or apiq"));
  }
  // The low-rank methods' rank and alpha; the others take neither.
  const bool low_rank = s.method() == "lrqat" || s.method() == "apiq";
  if (!low_rank) {
    // 0 is what validation itself fills in, so a validated spec passes again.
    if (s.has_rank() && s.rank() != 0) return c.Bad("rank", "only lrqat and apiq have a rank");
    if (s.has_alpha() && s.alpha() != 0) return c.Bad("alpha", "only lrqat and apiq have an alpha");
    if (s.e2e_lora()) return c.Bad("e2e_lora", "only apiq trains LoRA factors");
    if (s.lrqat_checkpointing()) {
      return c.Bad("lrqat_checkpointing", "only lrqat checkpoints its low-rank weight");
    }
    s.set_rank(0);
    s.set_alpha(0);
  } else {
    const bool lrqat = s.method() == "lrqat";
    if (!s.has_rank()) s.set_rank(lrqat ? job_defaults::kLrQatRank : job_defaults::kApiqRank);
    if (s.rank() < 1 || s.rank() > job_defaults::kMaxRank) {
      return c.Bad("rank", absl::StrCat(s.rank(), " must be in [1, ", job_defaults::kMaxRank, "]"));
    }
    if (!s.has_alpha()) s.set_alpha(lrqat ? job_defaults::kLrQatAlpha : job_defaults::kApiqAlpha);
    if (!(s.alpha() > 0) || !std::isfinite(s.alpha()) || s.alpha() > 1e6) {
      return c.Bad("alpha", absl::StrCat(s.alpha(), " must be a finite number in (0, 1e6]"));
    }
    if (s.e2e_lora() && lrqat) return c.Bad("e2e_lora", "only apiq trains LoRA factors");
    if (s.lrqat_checkpointing() && !lrqat) {
      return c.Bad("lrqat_checkpointing", "only lrqat checkpoints its low-rank weight");
    }
  }
  if (s.precision().empty()) s.set_precision(job_defaults::kPrecision);
  if (s.precision() != "fp16" && s.precision() != "bf16" && s.precision() != "fp32") {
    return c.Bad("precision", absl::StrCat(Quote(s.precision()), " is not fp16, bf16 or fp32"));
  }
  if (!s.has_bits()) s.set_bits(job_defaults::kBits);
  if (!s.has_group_size()) s.set_group_size(job_defaults::kGroupSize);
  QuantSpecFields names{c.Name("bits"), c.Name("group_size")};
  QuantSpec q{s.bits(), s.group_size()};
  RETURN_IF_ERROR(ValidateQuantSpec(q, names));
  if (s.zeros().empty()) s.set_zeros(job_defaults::kZeros);
  if (s.zeros() != "v2" && s.zeros() != "v1") {
    return c.Bad("zeros", absl::StrCat(Quote(s.zeros()), " is not v2 or v1"));
  }
  if (s.format().empty()) s.set_format(job_defaults::kFormat);
  RETURN_IF_ERROR(ParseOutputFormat(s.format(), c.Name("format")).status());
  return absl::OkStatus();
}

// Checked last, once every field is well-formed: does the group size fit
// the model's linears?
absl::Status CheckGroupsFit(Checker& c, const ModelConfig& cfg, bool rank_given) {
  v1::JobSpec& s = c.spec();
  if (!rank_given && s.rank() > 0) {
    // A default rank never exceeds the narrowest linear (e.g. a GQA k_proj).
    for (const LinearDims& l : BlockLinearDims(cfg)) {
      const int64_t m = std::min(l.in_features, l.out_features);
      if (s.rank() > m) s.set_rank(static_cast<int32_t>(m));
    }
  }
  QuantSpecFields names{c.Name("bits"), c.Name("group_size")};
  QuantSpec q{s.bits(), s.group_size()};
  // Every block has the same shapes: block 0's linears stand for all.
  std::vector<std::pair<std::string, int64_t>> outs;
  for (const LinearDims& l : BlockLinearDims(cfg)) {
    const std::string name = absl::StrCat("model.layers.0.", l.name);
    RETURN_IF_ERROR(ValidateQuantSpecFor(q, l.in_features, name, names));
    outs.emplace_back(name, l.out_features);
    if (s.rank() > std::min(l.in_features, l.out_features)) {
      return c.Bad("rank", absl::StrCat(s.rank(), " exceeds min(in, out) = ",
                                        std::min(l.in_features, l.out_features), " of ", name));
    }
  }
  // ... and can the output format hold it?
  ASSIGN_OR_RETURN(OutputFormat format, ParseOutputFormat(s.format(), c.Name("format")));
  RETURN_IF_ERROR(CheckFormatHolds(format, s.bits(), s.zeros(), outs, c.Name("format"),
                                   c.Name("zeros")));
  return absl::OkStatus();
}

absl::Status CheckBlockStage(Checker& c, const ModelConfig& cfg) {
  v1::JobSpec& s = c.spec();
  using S = v1::JobSpec;
  const int64_t max_pos = cfg.max_position_embeddings;
  if (s.method() != "rtn" || !s.calib_path().empty()) {
    RETURN_IF_ERROR(c.CheckInputFile("calib_path", s.calib_path()));
  }
  RETURN_IF_ERROR(c.Count("samples", &S::has_samples, &S::samples, &S::set_samples,
                          job_defaults::kSamples, int64_t{1}, job_defaults::kMaxSamples));
  RETURN_IF_ERROR(c.Seqlen("seqlen", &S::has_seqlen, &S::seqlen, &S::set_seqlen,
                           std::min(job_defaults::kMaxSeqlen, max_pos), max_pos));
  const bool trained = IsTrainedMethod(s.method());
  if (!trained && s.has_val_samples() && s.val_samples() != 0) {
    return c.Bad("val_samples", absl::StrCat("method ", s.method(),
                                             " trains nothing, so it has no validation windows"));
  }
  RETURN_IF_ERROR(c.Count("val_samples", &S::has_val_samples, &S::val_samples,
                          &S::set_val_samples, trained ? job_defaults::kValSamples : int64_t{0},
                          int64_t{0}, job_defaults::kMaxSamples));
  if (s.samples() + s.val_samples() > job_defaults::kMaxTokens / s.seqlen()) {
    return c.Bad("samples", absl::StrCat(s.samples(), " + ", s.val_samples(), " windows of ",
                                         s.seqlen(), " tokens exceed the limit of ",
                                         job_defaults::kMaxTokens, " tokens"));
  }
  if (s.calib_windows().empty()) s.set_calib_windows(job_defaults::kCalibWindows);
  if (s.calib_windows() != "chunks" && s.calib_windows() != "random") {
    return c.Bad("calib_windows", absl::StrCat(Quote(s.calib_windows()), " is not chunks or random"));
  }
  if (!s.has_seed()) s.set_seed(job_defaults::kSeed);
  RETURN_IF_ERROR(c.Count("batch", &S::has_batch, &S::batch, &S::set_batch, job_defaults::kBatch,
                          int64_t{1}, job_defaults::kMaxBatch));
  RETURN_IF_ERROR(c.Count("epochs", &S::has_epochs, &S::epochs, &S::set_epochs,
                          job_defaults::kEpochs, int64_t{1}, job_defaults::kMaxEpochs));
  RETURN_IF_ERROR(c.Count("ap_batch", &S::has_ap_batch, &S::ap_batch, &S::set_ap_batch,
                          job_defaults::kApBatch, int64_t{1}, job_defaults::kMaxBatch));
  RETURN_IF_ERROR(c.Rate("quant_lr", &S::has_quant_lr, &S::quant_lr, &S::set_quant_lr,
                         job_defaults::kQuantLr));
  RETURN_IF_ERROR(c.Rate("weight_lr", &S::has_weight_lr, &S::weight_lr, &S::set_weight_lr,
                         DefaultWeightLearningRate(s.method(), s.bits())));
  return absl::OkStatus();
}

absl::Status CheckE2e(Checker& c, const ModelConfig& cfg) {
  v1::JobSpec& s = c.spec();
  using S = v1::JobSpec;
  const int64_t max_pos = cfg.max_position_embeddings;
  if (!s.e2e_data().empty()) RETURN_IF_ERROR(c.CheckInputFile("e2e_data", s.e2e_data()));
  // E2E-QP follows Block-AP (efficientqat); apiq fine-tunes its LoRA
  // factors end to end with --e2e-lora. Both read e2e_data (default: the
  // calibration text, outside every Block-AP window).
  if (s.e2e_data().empty() && RunsE2e(s)) s.set_e2e_data(s.calib_path());
  RETURN_IF_ERROR(c.Count("e2e_samples", &S::has_e2e_samples, &S::e2e_samples,
                          &S::set_e2e_samples, job_defaults::kE2eSamples, int64_t{1},
                          job_defaults::kMaxSamples));
  RETURN_IF_ERROR(c.Seqlen("e2e_seqlen", &S::has_e2e_seqlen, &S::e2e_seqlen, &S::set_e2e_seqlen,
                           std::min(job_defaults::kE2eMaxSeqlen, max_pos), max_pos));
  if (s.e2e_samples() > job_defaults::kMaxTokens / s.e2e_seqlen()) {
    return c.Bad("e2e_samples", absl::StrCat(s.e2e_samples(), " windows of ", s.e2e_seqlen(),
                                             " tokens exceed the limit of ",
                                             job_defaults::kMaxTokens, " tokens"));
  }
  RETURN_IF_ERROR(c.Count("e2e_epochs", &S::has_e2e_epochs, &S::e2e_epochs, &S::set_e2e_epochs,
                          job_defaults::kE2eEpochs, int64_t{1}, job_defaults::kMaxEpochs));
  RETURN_IF_ERROR(c.Rate("e2e_lr", &S::has_e2e_lr, &S::e2e_lr, &S::set_e2e_lr,
                         DefaultE2eLearningRate(s.bits())));
  RETURN_IF_ERROR(c.Count("e2e_batch", &S::has_e2e_batch, &S::e2e_batch, &S::set_e2e_batch,
                          job_defaults::kE2eBatch, int64_t{1}, job_defaults::kMaxBatch));
  RETURN_IF_ERROR(c.Count("e2e_accum", &S::has_e2e_accum, &S::e2e_accum, &S::set_e2e_accum,
                          job_defaults::kE2eAccum, int64_t{1}, job_defaults::kMaxBatch));
  return absl::OkStatus();
}

absl::Status CheckEvalAndSchedule(Checker& c, const ModelConfig& cfg) {
  v1::JobSpec& s = c.spec();
  using S = v1::JobSpec;
  const int64_t max_pos = cfg.max_position_embeddings;
  if (!s.eval_text().empty()) RETURN_IF_ERROR(c.CheckInputFile("eval_text", s.eval_text()));
  RETURN_IF_ERROR(c.Seqlen("eval_seqlen", &S::has_eval_seqlen, &S::eval_seqlen,
                           &S::set_eval_seqlen, std::min(job_defaults::kMaxSeqlen, max_pos),
                           max_pos));
  RETURN_IF_ERROR(c.Count("eval_max_windows", &S::has_eval_max_windows, &S::eval_max_windows,
                          &S::set_eval_max_windows, job_defaults::kEvalMaxWindows, int64_t{0}, job_defaults::kMaxEvalWindows));
  if (s.schedule() == v1::SCHEDULE_UNSPECIFIED) s.set_schedule(v1::SEQUENTIAL);
  if (!v1::Schedule_IsValid(s.schedule())) {
    return c.Bad("schedule", absl::StrCat(static_cast<int>(s.schedule()), " is not a schedule"));
  }
  if (!s.has_anneal_fraction()) s.set_anneal_fraction(job_defaults::kAnnealFraction);
  if (!(s.anneal_fraction() >= 0 && s.anneal_fraction() <= 1)) {
    return c.Bad("anneal_fraction", absl::StrCat(s.anneal_fraction(), " must be in [0, 1]"));
  }
  RETURN_IF_ERROR(c.Count("max_stages", &S::has_max_stages, &S::max_stages, &S::set_max_stages,
                          job_defaults::kMaxStages, 0, job_defaults::kMaxStagesLimit));
  return absl::OkStatus();
}

absl::Status CheckOutput(Checker& c) {
  v1::JobSpec& s = c.spec();
  RETURN_IF_ERROR(c.CheckPlace("output_dir", s.output_dir()));
  const std::string name = c.Name("output_dir");
  RETURN_IF_ERROR(CheckOutputDir(s.output_dir(), s.overwrite(), name));
  return CheckOutputNotSource(s.output_dir(), s.model_dir(), name);
}

}  // namespace

absl::StatusOr<ValidatedJob> ValidateJobSpec(const v1::JobSpec& spec, const JobSpecRules& rules) {
  Checker c(spec, rules);
  ValidatedJob out;
  RETURN_IF_ERROR(CheckModel(c, &out.config));
  if (c.spec().output_dir().empty()) return c.Bad("output_dir", "is required");
  RETURN_IF_ERROR(CheckQuantization(c));
  RETURN_IF_ERROR(CheckBlockStage(c, out.config));
  RETURN_IF_ERROR(CheckE2e(c, out.config));
  RETURN_IF_ERROR(CheckEvalAndSchedule(c, out.config));
  RETURN_IF_ERROR(CheckOutput(c));
  RETURN_IF_ERROR(CheckGroupsFit(c, out.config, spec.has_rank() && spec.rank() != 0));
  out.spec = std::move(c.spec());
  out.num_blocks = static_cast<int>(out.config.num_hidden_layers);
  return out;
}

}  // namespace eqat
