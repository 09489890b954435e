#include "common/byte_size.h"

#include <cctype>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace eqat {

absl::StatusOr<int64_t> ParseByteSize(const std::string& flag, const std::string& text) {
  if (text.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": empty size"));
  double mult = 1;
  std::string num = text;
  char last = static_cast<char>(std::toupper(static_cast<unsigned char>(text.back())));
  if (last == 'K' || last == 'M' || last == 'G' || last == 'T') {
    mult = last == 'K' ? 1024.0 : last == 'M' ? 1048576.0 : last == 'G' ? 1073741824.0 : 1099511627776.0;
    num = text.substr(0, text.size() - 1);
  }
  char* end = nullptr;
  double v = std::strtod(num.c_str(), &end);
  if (num.empty() || end == nullptr || *end != '\0' || !(v >= 0) || v * mult > 9e18) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": '", text, "' is not a size (e.g. 512M, 4G, 1000000)"));
  }
  return static_cast<int64_t>(v * mult);
}

}  // namespace eqat
