#include "common/job/job_flags.h"

#include <cctype>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"

namespace eqat {
namespace {

using google::protobuf::FieldDescriptor;

std::string AbsolutePath(const std::string& p) {
  if (p.empty()) return p;
  std::error_code ec;
  auto a = std::filesystem::absolute(p, ec);
  if (ec) return p;
  std::string s = a.lexically_normal().string();
  // Keep a trailing slash the user typed off: "out/" and "out" are one folder.
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

absl::Status Bad(const JobFlag& f, const std::string& text, const std::string& why) {
  std::string name = f.flag;
  for (char& c : name) c = c == '_' ? '-' : c;
  return absl::InvalidArgumentError(absl::StrCat("--", name, ": '", text, "' ", why));
}

}  // namespace

const std::vector<JobFlag>& JobFlagTable() {
  static const auto* table = new std::vector<JobFlag>{
      {"model", "model_dir", false, true},
      {"out", "output_dir", false, true},
      {"method", "method"},
      {"bits", "bits"},
      {"group", "group_size"},
      {"calib", "calib_path", false, true},
      {"samples", "samples"},
      {"seqlen", "seqlen"},
      {"seed", "seed"},
      {"batch", "batch"},
      {"epochs", "epochs"},
      {"ap_batch", "ap_batch"},
      {"quant_lr", "quant_lr"},
      {"weight_lr", "weight_lr"},
      {"val_samples", "val_samples"},
      {"calib_windows", "calib_windows"},
      {"ap_shuffle", "ap_shuffle"},
      {"precision", "precision"},
      {"rank", "rank"},
      {"alpha", "alpha"},
      {"e2e", "skip_e2e", true},
      {"e2e_data", "e2e_data", false, true},
      {"e2e_samples", "e2e_samples"},
      {"e2e_seqlen", "e2e_seqlen"},
      {"e2e_epochs", "e2e_epochs"},
      {"e2e_lr", "e2e_lr"},
      {"e2e_batch", "e2e_batch"},
      {"e2e_accum", "e2e_accum"},
      {"e2e_checkpointing", "e2e_checkpointing"},
      {"e2e_lora", "e2e_lora"},
      {"lrqat_checkpointing", "lrqat_checkpointing"},
      {"eval_text", "eval_text", false, true},
      {"eval_seqlen", "eval_seqlen"},
      {"eval_max_windows", "eval_max_windows"},
      {"zeros", "zeros"},
      {"format", "format"},
      {"overwrite", "overwrite"},
      {"schedule", "schedule"},
      {"anneal_fraction", "anneal_fraction"},
      {"max_stages", "max_stages"},
  };
  return *table;
}

const JobFlag* FlagForField(const std::string& field) {
  for (const JobFlag& f : JobFlagTable()) {
    if (f.field == field) return &f;
  }
  return nullptr;
}

absl::StatusOr<v1::JobSpec> JobSpecFromFlagValues(const std::map<std::string, std::string>& given) {
  v1::JobSpec spec;
  const auto* desc = spec.GetDescriptor();
  const auto* refl = spec.GetReflection();
  for (const JobFlag& f : JobFlagTable()) {
    auto it = given.find(f.flag);
    if (it == given.end()) continue;
    const std::string& text = it->second;
    const FieldDescriptor* fd = desc->FindFieldByName(f.field);
    if (fd == nullptr) return absl::InternalError(absl::StrCat("JobSpec has no field ", f.field));
    switch (fd->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32: {
        int32_t v;
        if (!absl::SimpleAtoi(text, &v)) return Bad(f, text, "is not an integer");
        refl->SetInt32(&spec, fd, v);
        break;
      }
      case FieldDescriptor::CPPTYPE_INT64: {
        int64_t v;
        if (!absl::SimpleAtoi(text, &v)) return Bad(f, text, "is not an integer");
        refl->SetInt64(&spec, fd, v);
        break;
      }
      case FieldDescriptor::CPPTYPE_UINT64: {
        uint64_t v;
        if (!absl::SimpleAtoi(text, &v)) return Bad(f, text, "is not a non-negative integer");
        refl->SetUInt64(&spec, fd, v);
        break;
      }
      case FieldDescriptor::CPPTYPE_DOUBLE: {
        double v;
        if (!absl::SimpleAtod(text, &v)) return Bad(f, text, "is not a number");
        refl->SetDouble(&spec, fd, v);
        break;
      }
      case FieldDescriptor::CPPTYPE_BOOL: {
        bool v;
        if (!absl::SimpleAtob(text, &v)) return Bad(f, text, "is not true or false");
        refl->SetBool(&spec, fd, f.inverted ? !v : v);
        break;
      }
      case FieldDescriptor::CPPTYPE_STRING:
        refl->SetString(&spec, fd, f.path ? AbsolutePath(text) : text);
        break;
      case FieldDescriptor::CPPTYPE_ENUM: {
        const auto* value = fd->enum_type()->FindValueByName(absl::AsciiStrToUpper(text));
        if (value == nullptr || value->number() == 0) {
          std::string names;
          for (int i = 1; i < fd->enum_type()->value_count(); ++i) {
            absl::StrAppend(&names, i > 1 ? " or " : "",
                            absl::AsciiStrToLower(fd->enum_type()->value(i)->name()));
          }
          return Bad(f, text, absl::StrCat("is not ", names));
        }
        refl->SetEnumValue(&spec, fd, value->number());
        break;
      }
      default:
        return absl::InternalError(absl::StrCat("JobSpec field ", f.field, " has no flag mapping"));
    }
  }
  return spec;
}

}  // namespace eqat
