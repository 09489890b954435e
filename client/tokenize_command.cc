// `eqat tokenize`: the ids a model folder's tokenizer gives a text file.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/command_util.h"
#include "client/commands.h"
#include "common/file_util.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "common/tokenizer.h"

namespace eqat {

absl::Status RunTokenize(const TokenizeOptions& o, std::ostream& out, std::ostream& err) {
  if (o.model.empty()) return absl::InvalidArgumentError("--model: is required");
  if (!IsDirectory(o.model)) {
    return absl::InvalidArgumentError(absl::StrCat("--model: '", o.model, "' is not a directory"));
  }
  RETURN_IF_ERROR(CheckInputFile("--text", o.text));
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::LoadFromDir(o.model);
  if (!tok.ok()) {
    // A folder without a tokenizer is a bad --model, not a missing file.
    return absl::InvalidArgumentError(absl::StrCat("--model: ", tok.status().message()));
  }
  ASSIGN_OR_RETURN(std::string text, ReadFile(o.text));
  ASSIGN_OR_RETURN(Tokenizer::Encoded e, (*tok)->EncodeWith(text, o.special));
  err << "eqat tokenize: " << (*tok)->source() << ", " << e.ids.size() << " tokens\n";
  if (e.replaced_invalid_utf8 > 0) {
    err << absl::StrFormat(
        "eqat tokenize: %s: %d invalid UTF-8 sequence(s) read as U+FFFD\n", o.text,
        e.replaced_invalid_utf8);
  }
  if (o.json) {
    Json j = {{"ids", e.ids}, {"n", e.ids.size()}};
    out << DumpJson(j) << "\n";
    return absl::OkStatus();
  }
  std::string line;
  line.reserve(e.ids.size() * 6);
  for (size_t i = 0; i < e.ids.size(); ++i) {
    if (i > 0) line.push_back(' ');
    absl::StrAppend(&line, e.ids[i]);
  }
  out << line << "\n";
  return absl::OkStatus();
}

}  // namespace eqat
