#include "coordinator/spec_validation.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/model_config.h"
#include "common/output_dir.h"
#include "common/quant_spec.h"
#include "common/safetensors.h"
#include "common/status_macros.h"

namespace eqat {
namespace fs = std::filesystem;

namespace {

absl::Status Bad(const std::string& field, const std::string& msg) {
  return absl::InvalidArgumentError(absl::StrCat("spec.", field, ": ", msg));
}

absl::Status CheckPath(const std::string& field, const std::string& path,
                       const std::vector<std::string>& roots, bool must_exist) {
  if (path.empty()) return Bad(field, "is required");
  if (path[0] != '/') return Bad(field, absl::StrCat("'", path, "' must be an absolute path"));
  if (!InAllowedRoots(path, roots)) {
    return Bad(field, absl::StrCat("'", path, "' is outside the coordinator's allowed roots"));
  }
  if (must_exist && !PathExists(path)) return Bad(field, absl::StrCat("'", path, "' does not exist"));
  return absl::OkStatus();
}

}  // namespace

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

absl::StatusOr<ValidatedSpec> ValidateJobSpec(const v1::JobSpec& in,
                                              const std::vector<std::string>& roots) {
  ValidatedSpec out;
  v1::JobSpec s = in;
  RETURN_IF_ERROR(CheckPath("model_dir", s.model_dir(), roots, true));
  absl::StatusOr<ModelConfig> cfg = LoadModelConfig(s.model_dir());
  if (!cfg.ok()) return Bad("model_dir", std::string(cfg.status().message()));
  if (cfg->quantization.present) return Bad("model_dir", "is already quantized");
  absl::StatusOr<std::unique_ptr<SafetensorsModel>> st = SafetensorsModel::Open(s.model_dir());
  if (!st.ok()) return Bad("model_dir", std::string(st.status().message()));

  if (s.method().empty()) s.set_method("efficientqat");
  if (s.method() != "efficientqat" && s.method() != "gptq" && s.method() != "rtn") {
    return Bad("method", absl::StrCat("'", s.method(), "' is not efficientqat, gptq or rtn"));
  }
  if (s.bits() == 0) s.set_bits(4);
  if (s.group_size() == 0) s.set_group_size(128);
  absl::Status qs = ValidateQuantSpec({s.bits(), s.group_size()});
  if (!qs.ok()) {
    return Bad(s.bits() != 2 && s.bits() != 3 && s.bits() != 4 && s.bits() != 8 ? "bits" : "group_size",
               std::string(qs.message()));
  }
  const int64_t qdim = cfg->num_attention_heads * cfg->head_dim;
  for (auto [in_features, what] : {std::pair<int64_t, const char*>{cfg->hidden_size, "q/k/v/gate/up_proj"},
                                   {qdim, "o_proj"},
                                   {cfg->intermediate_size, "down_proj"}}) {
    absl::Status g = ValidateQuantSpecFor({s.bits(), s.group_size()}, in_features, what);
    if (!g.ok()) return Bad("group_size", std::string(g.message()));
  }
  if (s.method() != "rtn" || !s.calib_path().empty()) {
    RETURN_IF_ERROR(CheckPath("calib_path", s.calib_path(), roots, true));
  }
  if (s.samples() < 0) return Bad("samples", "must be >= 0");
  if (s.samples() == 0) s.set_samples(4096);
  int64_t max_pos = cfg->max_position_embeddings;
  if (s.seqlen() < 0 || s.seqlen() == 1 || s.seqlen() > max_pos) {
    return Bad("seqlen", absl::StrCat(s.seqlen(), " must be in [2, ", max_pos, "]"));
  }
  if (s.seqlen() == 0) s.set_seqlen(std::min<int64_t>(2048, max_pos));
  if (s.epochs() < 0 || s.ap_batch() < 0 || s.e2e_epochs() < 0 || s.e2e_batch() < 0 ||
      s.e2e_accum() < 0 || s.e2e_samples() < 0 || s.eval_max_windows() < 0) {
    return Bad("epochs", "counts must be >= 0");
  }
  if (s.epochs() == 0) s.set_epochs(2);
  if (s.ap_batch() == 0) s.set_ap_batch(2);
  if (s.e2e_epochs() == 0) s.set_e2e_epochs(1);
  if (s.e2e_batch() == 0) s.set_e2e_batch(2);
  if (s.e2e_accum() == 0) s.set_e2e_accum(1);
  if (s.e2e_samples() == 0) s.set_e2e_samples(s.samples());
  if (s.e2e_seqlen() < 0 || s.e2e_seqlen() > max_pos) return Bad("e2e_seqlen", "out of range");
  if (s.e2e_seqlen() == 0) s.set_e2e_seqlen(s.seqlen());
  if (!(s.quant_lr() >= 0) || !(s.weight_lr() >= 0) || !(s.e2e_lr() >= 0)) {
    return Bad("quant_lr", "learning rates must be >= 0");
  }
  if (s.quant_lr() == 0) s.set_quant_lr(1e-4);
  if (!s.e2e_data().empty()) RETURN_IF_ERROR(CheckPath("e2e_data", s.e2e_data(), roots, true));
  if (!s.eval_text().empty()) RETURN_IF_ERROR(CheckPath("eval_text", s.eval_text(), roots, true));
  if (s.eval_seqlen() < 0 || s.eval_seqlen() == 1 || s.eval_seqlen() > max_pos) {
    return Bad("eval_seqlen", absl::StrCat(s.eval_seqlen(), " must be in [2, ", max_pos, "]"));
  }
  if (s.eval_seqlen() == 0) s.set_eval_seqlen(std::min<int64_t>(2048, max_pos));
  if (s.zeros().empty()) s.set_zeros("v2");
  if (s.zeros() != "v2" && s.zeros() != "v1") return Bad("zeros", "must be v2 or v1");
  if (!s.has_anneal_fraction()) s.set_anneal_fraction(0.5);
  if (!(s.anneal_fraction() >= 0 && s.anneal_fraction() <= 1)) {
    return Bad("anneal_fraction", "must be in [0, 1]");
  }
  if (s.max_stages() < 0) return Bad("max_stages", "must be >= 0");
  if (s.schedule() == v1::SCHEDULE_UNSPECIFIED) s.set_schedule(v1::SEQUENTIAL);
  RETURN_IF_ERROR(CheckPath("output_dir", s.output_dir(), roots, false));
  absl::Status od = CheckOutputDir(s.output_dir(), s.overwrite());
  if (od.ok()) od = CheckOutputNotSource(s.output_dir(), s.model_dir());
  if (!od.ok()) {
    return absl::Status(od.code(), absl::StrCat("spec.output_dir: ", od.message().substr(5)));
  }
  out.spec = s;
  out.num_blocks = static_cast<int>(cfg->num_hidden_layers);
  return out;
}

}  // namespace eqat
