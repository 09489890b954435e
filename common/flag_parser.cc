#include "common/flag_parser.h"

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/str_cat.h"

namespace eqat {
namespace {

std::string Dashed(std::string name) {
  for (char& ch : name) {
    if (ch == '_') ch = '-';
  }
  return name;
}

}  // namespace

absl::StatusOr<ParsedArgs> ParseSubcommandFlags(const std::vector<std::string>& args,
                                                const std::set<std::string>& allowed) {
  ParsedArgs out;
  bool only_positional = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (only_positional || a.size() < 2 || a[0] != '-') {
      out.positional.push_back(a);
      continue;
    }
    if (a == "--") {
      only_positional = true;
      continue;
    }
    std::string body = a.substr(a[1] == '-' ? 2 : 1);
    std::string name = body, value;
    bool has_value = false;
    size_t eq = body.find('=');
    if (eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    // Users write --max-windows; Abseil names the flag max_windows.
    for (char& ch : name) {
      if (ch == '-') ch = '_';
    }
    bool negated = false;
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr && !has_value && name.rfind("no", 0) == 0) {
      absl::CommandLineFlag* f = absl::FindCommandLineFlag(name.substr(2));
      if (f != nullptr && f->IsOfType<bool>()) {
        flag = f;
        name = name.substr(2);
        negated = true;
      }
    }
    if (flag == nullptr || allowed.count(name) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", Dashed(name), " for this command"));
    }
    if (!has_value) {
      if (flag->IsOfType<bool>()) {
        value = negated ? "false" : "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("--", Dashed(name), ": missing value"));
      }
    }
    // A repeated list flag (--allowed-root A --allowed-root B) accumulates.
    if (out.given.count(name) > 0 && flag->IsOfType<std::vector<std::string>>()) {
      value = absl::StrCat(flag->CurrentValue(), ",", value);
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", Dashed(name), ": cannot parse '", value, "': ", error));
    }
    out.given.insert(name);
  }
  return out;
}

std::string FlagsHelp(const std::set<std::string>& names) {
  std::string out;
  for (const std::string& n : names) {
    absl::CommandLineFlag* f = absl::FindCommandLineFlag(n);
    if (f == nullptr) continue;
    absl::StrAppend(&out, "  --", Dashed(n), "  ", f->Help(), " (default: ", f->DefaultValue(), ")\n");
  }
  return out;
}

}  // namespace eqat
