#include "worker/model/peft_adapter.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file_util.h"
#include "common/json.h"
#include "common/output_dir.h"
#include "common/status_macros.h"
#include "worker/model/tensor_io.h"

namespace eqat {
namespace {

constexpr char kPrefix[] = "base_model.model.model.layers.";
constexpr size_t kMaxNamesListed = 16;

// "self_attn.q_proj" -> "q_proj".
std::string ShortName(const std::string& linear_name) {
  size_t dot = linear_name.rfind('.');
  return dot == std::string::npos ? linear_name : linear_name.substr(dot + 1);
}

const std::vector<std::string>& LinearNames() {
  static const auto* names = [] {
    auto* v = new std::vector<std::string>();
    Block b;
    for (const auto& [name, lin] : b.Linears()) v->push_back(name);
    return v;
  }();
  return *names;
}

std::string ListNames(const std::vector<std::string>& names) {
  if (names.size() <= kMaxNamesListed) return absl::StrJoin(names, ", ");
  std::vector<std::string> head(names.begin(), names.begin() + kMaxNamesListed);
  return absl::StrCat(absl::StrJoin(head, ", "), ", ... (", names.size(), " in all)");
}

torch::Device DeviceOf(const Linear& l) {
  const torch::Tensor& t = l.mode == Linear::Mode::kPacked ? l.packed.qweight : l.weight;
  return t.defined() ? t.device() : torch::Device(torch::kCPU);
}

absl::Status GuardTorchErrors(const std::string& what, const std::function<absl::Status()>& fn) {
  try {
    return fn();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat(what, ": torch: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what, ": ", e.what()));
  }
}

// ---- writing ----

absl::Status WriteFiles(const LlamaModel& model, const std::string& dir,
                        const PeftAdapterInfo& info) {
  if (info.dtype != DType::kF32 && info.dtype != DType::kF16 && info.dtype != DType::kBF16) {
    return absl::InvalidArgumentError(absl::StrCat("adapter dtype ",
                                                   std::string(DTypeName(info.dtype)),
                                                   ": expected F32, F16 or BF16"));
  }
  if (!std::isfinite(info.lora_alpha) || info.lora_alpha < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("lora_alpha: ", info.lora_alpha, " must be > 0 (or 0: from lora_scale)"));
  }
  int64_t r = 0;
  double scale = 0;
  std::set<std::string> targets;  // full linear names, e.g. "self_attn.q_proj"
  std::vector<TensorToWrite> tensors;
  for (int i = 0; i < model.num_blocks(); ++i) {
    const int layer = model.first_block() + i;
    for (const auto& [name, lin] : model.block(i).Linears()) {
      if (!lin->has_lora()) continue;
      const std::string where = LinearPrefix(layer, name);
      if (r == 0) {
        r = lin->lora_rank();
        scale = lin->lora_scale;
      }
      if (lin->lora_rank() != r) {
        return absl::FailedPreconditionError(absl::StrCat(
            where, ": LoRA rank ", lin->lora_rank(), " differs from the first one's ", r,
            " (a PEFT adapter has one r)"));
      }
      if (std::abs(lin->lora_scale - scale) > 1e-9 * std::abs(scale)) {
        return absl::FailedPreconditionError(absl::StrCat(
            where, ": lora_scale ", lin->lora_scale, " differs from the first one's ", scale));
      }
      const std::vector<int64_t> a_shape = {r, lin->in_features()};
      const std::vector<int64_t> b_shape = {lin->out_features(), r};
      if (lin->lora_a.sizes().vec() != a_shape || lin->lora_b.sizes().vec() != b_shape) {
        return absl::FailedPreconditionError(absl::StrCat(
            where, ": lora_a [", absl::StrJoin(lin->lora_a.sizes().vec(), ","), "] / lora_b [",
            absl::StrJoin(lin->lora_b.sizes().vec(), ","), "], expected [",
            absl::StrJoin(a_shape, ","), "] / [", absl::StrJoin(b_shape, ","), "]"));
      }
      targets.insert(name);
      tensors.push_back(ToWrite(PeftTensorName(layer, name, "A"), lin->lora_a, info.dtype));
      tensors.push_back(ToWrite(PeftTensorName(layer, name, "B"), lin->lora_b, info.dtype));
    }
  }
  if (r == 0) return absl::FailedPreconditionError("adapter: no linear of the model has LoRA");
  for (int i = 0; i < model.num_blocks(); ++i) {
    for (const auto& [name, lin] : model.block(i).Linears()) {
      if (targets.count(name) != 0 && !lin->has_lora()) {
        return absl::FailedPreconditionError(
            absl::StrCat(LinearPrefix(model.first_block() + i, name),
                         ": has no LoRA, but the same linear of another block has"));
      }
    }
  }
  double alpha = info.lora_alpha > 0 ? info.lora_alpha : scale * static_cast<double>(r);
  if (std::abs(alpha / static_cast<double>(r) - scale) > 1e-9 * std::abs(scale)) {
    return absl::InvalidArgumentError(absl::StrCat("lora_alpha: ", alpha, " / r ", r,
                                                   " does not give the model's lora_scale ",
                                                   scale));
  }
  std::vector<std::string> modules;
  for (const std::string& t : targets) modules.push_back(ShortName(t));
  std::sort(modules.begin(), modules.end());
  Json layers = nullptr;
  if (model.num_blocks() < model.config().num_hidden_layers) {
    layers = Json::array();
    for (int i = 0; i < model.num_blocks(); ++i) layers.push_back(model.first_block() + i);
  }
  Json alpha_json = alpha;
  if (alpha == std::floor(alpha) && alpha < 1e15) alpha_json = static_cast<int64_t>(alpha);
  Json cfg = {{"peft_type", "LORA"},
              {"task_type", "CAUSAL_LM"},
              {"base_model_name_or_path", info.base_model_name_or_path},
              {"r", r},
              {"lora_alpha", alpha_json},
              {"lora_dropout", 0.0},
              {"target_modules", modules},
              {"bias", "none"},
              {"fan_in_fan_out", false},
              {"inference_mode", true},
              {"use_rslora", false},
              {"use_dora", false},
              {"init_lora_weights", true},
              {"layers_to_transform", layers},
              {"modules_to_save", nullptr},
              {"rank_pattern", Json::object()},
              {"alpha_pattern", Json::object()}};
  RETURN_IF_ERROR(WriteSafetensors(JoinPath(dir, kPeftWeightsFile), tensors, {{"format", "pt"}}));
  return WriteFileAtomic(JoinPath(dir, kPeftConfigFile), DumpJson(cfg, 2) + "\n");
}

// ---- reading ----

struct AdapterConfig {
  int64_t r = 0;
  double scale = 0;
  std::set<std::string> targets;  // full linear names
  std::set<int64_t> layers;       // empty: every layer
};

absl::StatusOr<AdapterConfig> ParseAdapterConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  absl::StatusOr<Json> parsed = ParseJson(text);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", parsed.status().message()));
  }
  const Json& j = *parsed;
  auto bad = [&](const std::string& field, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", field, ": ", why));
  };
  if (!j.is_object()) return bad("(top level)", "expected a JSON object");
  AdapterConfig c;
  if (!j.contains("peft_type") || !j["peft_type"].is_string() || j["peft_type"] != "LORA") {
    return bad("peft_type", j.contains("peft_type")
                                ? absl::StrCat(DumpJson(j["peft_type"]), " is not \"LORA\"")
                                : "missing (expected \"LORA\")");
  }
  std::optional<int64_t> r = j.contains("r") ? JsonInt64(j["r"]) : std::nullopt;
  if (!r || *r < 1) return bad("r", "expected a positive integer");
  c.r = *r;
  if (!j.contains("lora_alpha") || !j["lora_alpha"].is_number() ||
      !std::isfinite(j["lora_alpha"].get<double>()) || j["lora_alpha"].get<double>() <= 0) {
    return bad("lora_alpha", "expected a positive number");
  }
  const double alpha = j["lora_alpha"].get<double>();
  bool rslora = false;
  if (j.contains("use_rslora") && !j["use_rslora"].is_null()) {
    if (!j["use_rslora"].is_boolean()) return bad("use_rslora", "expected true or false");
    rslora = j["use_rslora"].get<bool>();
  }
  c.scale = rslora ? alpha / std::sqrt(static_cast<double>(c.r)) : alpha / static_cast<double>(c.r);
  auto is_true = [&](const char* k) {
    return j.contains(k) && j[k].is_boolean() && j[k].get<bool>();
  };
  if (is_true("fan_in_fan_out")) return bad("fan_in_fan_out", "true is not supported");
  if (is_true("use_dora")) return bad("use_dora", "DoRA is not supported");
  if (j.contains("bias") && !j["bias"].is_null() && j["bias"] != "none") {
    return bad("bias", absl::StrCat(DumpJson(j["bias"]), " is not supported (only \"none\")"));
  }
  for (const char* k : {"rank_pattern", "alpha_pattern", "modules_to_save"}) {
    if (j.contains(k) && !j[k].is_null() && !j[k].empty()) {
      return bad(k, "not supported (must be empty or null)");
    }
  }
  if (!j.contains("target_modules")) return bad("target_modules", "missing");
  const Json& tm = j["target_modules"];
  if (tm.is_string() && tm == "all-linear") {
    c.targets.insert(LinearNames().begin(), LinearNames().end());
  } else if (tm.is_array()) {
    for (const Json& e : tm) {
      if (!e.is_string()) return bad("target_modules", "expected a list of module names");
      const std::string s = e.get<std::string>();
      bool found = false;
      for (const std::string& n : LinearNames()) {
        if (n == s || absl::EndsWith(n, "." + s)) {
          c.targets.insert(n);
          found = true;
        }
      }
      if (!found) {
        return bad("target_modules", absl::StrCat("'", s, "' is not a linear of the decoder (",
                                                  "q_proj, k_proj, v_proj, o_proj, gate_proj, ",
                                                  "up_proj, down_proj)"));
      }
    }
  } else {
    return bad("target_modules", "expected a list of module names or \"all-linear\"");
  }
  if (j.contains("layers_to_transform") && !j["layers_to_transform"].is_null()) {
    const Json& lt = j["layers_to_transform"];
    std::vector<Json> items = lt.is_array() ? std::vector<Json>(lt.begin(), lt.end())
                                            : std::vector<Json>{lt};
    for (const Json& e : items) {
      std::optional<int64_t> v = JsonInt64(e);
      if (!v || *v < 0) return bad("layers_to_transform", "expected layer indices");
      c.layers.insert(*v);
    }
  }
  return c;
}

struct Staged {
  Linear* lin;
  torch::Tensor a, b;
};

absl::Status LoadInto(const std::string& dir, LlamaModel* model) {
  const std::string cfg_path = JoinPath(dir, kPeftConfigFile);
  const std::string st_path = JoinPath(dir, kPeftWeightsFile);
  if (!PathExists(cfg_path)) return absl::NotFoundError(absl::StrCat(cfg_path, ": not found"));
  ASSIGN_OR_RETURN(AdapterConfig c, ParseAdapterConfig(cfg_path));
  if (!PathExists(st_path)) return absl::NotFoundError(absl::StrCat(st_path, ": not found"));
  absl::StatusOr<std::unique_ptr<SafetensorsModel>> st = SafetensorsModel::Open(st_path);
  if (!st.ok()) {
    return absl::Status(st.status().code(), absl::StrCat(st_path, ": ", st.status().message()));
  }
  const int64_t num_layers = model->config().num_hidden_layers;
  auto targeted = [&](int64_t layer) { return c.layers.empty() || c.layers.count(layer) != 0; };
  // Every name the adapter may hold, and whether it is for a held block.
  std::map<std::string, bool> known;
  for (int64_t layer = 0; layer < num_layers; ++layer) {
    if (!targeted(layer)) continue;
    const bool held = layer >= model->first_block() &&
                      layer < model->first_block() + model->num_blocks();
    for (const std::string& n : c.targets) {
      for (const char* ab : {"A", "B"}) {
        known[PeftTensorName(static_cast<int>(layer), n, ab)] = held;
      }
    }
  }
  std::vector<std::string> missing, unknown;
  for (const std::string& name : (*st)->names()) {
    if (known.count(name) == 0) unknown.push_back(name);
  }
  for (const auto& [name, held] : known) {
    if (held && !(*st)->Has(name)) missing.push_back(name);
  }
  if (!missing.empty() || !unknown.empty()) {
    std::string msg = st_path + ":";
    if (!missing.empty()) absl::StrAppend(&msg, " missing tensors: ", ListNames(missing), ";");
    if (!unknown.empty()) {
      absl::StrAppend(&msg, " unknown tensors (not a targeted linear of this ", num_layers,
                      "-layer model): ", ListNames(unknown), ";");
    }
    msg.pop_back();
    return absl::InvalidArgumentError(msg);
  }
  std::vector<Staged> staged;
  for (int i = 0; i < model->num_blocks(); ++i) {
    const int layer = model->first_block() + i;
    if (!targeted(layer)) continue;
    for (auto& [name, lin] : model->block(i).Linears()) {
      if (c.targets.count(name) == 0) continue;
      Staged s{lin, {}, {}};
      for (const char* ab : {"A", "B"}) {
        const bool is_a = ab[0] == 'A';
        std::vector<int64_t> shape = is_a ? std::vector<int64_t>{c.r, lin->in_features()}
                                          : std::vector<int64_t>{lin->out_features(), c.r};
        absl::StatusOr<torch::Tensor> t = ReadFloatTensor(**st, PeftTensorName(layer, name, ab),
                                                          shape);
        if (!t.ok()) {
          return absl::Status(t.status().code(), absl::StrCat(st_path, ": ", t.status().message(),
                                                              " (r = ", c.r, ")"));
        }
        (is_a ? s.a : s.b) = t->to(DeviceOf(*lin));
      }
      staged.push_back(std::move(s));
    }
  }
  for (int i = 0; i < model->num_blocks(); ++i) {
    for (auto& [name, lin] : model->block(i).Linears()) {
      lin->lora_a = torch::Tensor();
      lin->lora_b = torch::Tensor();
      lin->lora_scale = 0;
    }
  }
  for (Staged& s : staged) {
    s.lin->lora_a = std::move(s.a);
    s.lin->lora_b = std::move(s.b);
    s.lin->lora_scale = c.scale;
  }
  return absl::OkStatus();
}

}  // namespace

std::string PeftTensorName(int block, const std::string& linear_name, const std::string& ab) {
  return absl::StrCat(kPrefix, block, ".", linear_name, ".lora_", ab, ".weight");
}

absl::Status WritePeftAdapter(const LlamaModel& model, const std::string& dir,
                              const PeftAdapterInfo& info) {
  if (dir.empty()) return absl::InvalidArgumentError("adapter: empty output folder");
  return GuardTorchErrors(absl::StrCat("writing adapter ", dir), [&]() -> absl::Status {
    if (IsDirectory(dir)) return WriteFiles(model, dir, info);
    if (PathExists(dir)) {
      return absl::FailedPreconditionError(absl::StrCat(dir, ": exists and is not a folder"));
    }
    // A new folder appears complete or not at all.
    const std::string clean = CleanPath(dir);
    const std::string tmp = TempSiblingPath(clean);
    RETURN_IF_ERROR(RemoveAll(tmp));
    RETURN_IF_ERROR(MakeDirs(tmp));
    absl::Status s = WriteFiles(model, tmp, info);
    std::error_code ec;
    if (s.ok()) std::filesystem::rename(tmp, clean, ec);
    if (!s.ok() || ec) {
      RemoveAll(tmp).IgnoreError();
      return s.ok() ? absl::PermissionDeniedError(
                          absl::StrCat(dir, ": cannot rename into place: ", ec.message()))
                    : s;
    }
    return absl::OkStatus();
  });
}

absl::Status LoadPeftAdapter(const std::string& dir, LlamaModel* model) {
  return GuardTorchErrors(absl::StrCat("loading adapter ", dir),
                          [&]() { return LoadInto(dir, model); });
}

}  // namespace eqat
