#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/command_util.h"
#include "client/commands.h"
#include "common/file_util.h"
#include "common/json.h"
#include "common/progress.h"
#include "common/status_macros.h"
#include "common/text_data.h"
#include "worker/model/evaluate.h"
#include "worker/model/peft_adapter.h"

namespace eqat {

absl::Status RunEval(const EvalOptions& o, std::ostream& out) {
  RETURN_IF_ERROR(CheckModelDir("--model", o.model));
  RETURN_IF_ERROR(CheckInputFile("--text", o.text));
  if (o.max_windows < 0) return absl::InvalidArgumentError("--max-windows: must be >= 0");
  if (o.batch_size < 1) return absl::InvalidArgumentError("--batch: must be >= 1");
  if (!o.adapter.empty()) {
    if (!IsDirectory(o.adapter)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--adapter: '", o.adapter, "' is not a directory"));
    }
    if (!PathExists(JoinPath(o.adapter, kPeftConfigFile))) {
      return absl::InvalidArgumentError(absl::StrCat("--adapter: '", o.adapter, "' has no ",
                                                     kPeftConfigFile, " (expected a PEFT folder)"));
    }
  }
  return GuardTorch([&]() -> absl::Status {
    ASSIGN_OR_RETURN(auto model, LlamaModel::Load(o.model));
    if (!o.adapter.empty()) {
      absl::Status st = LoadPeftAdapter(o.adapter, model.get());
      if (!st.ok()) return absl::Status(st.code(), absl::StrCat("--adapter: ", st.message()));
    }
    ASSIGN_OR_RETURN(int64_t seqlen, ResolveSeqlen("--seqlen", o.seqlen, model->config()));
    ASSIGN_OR_RETURN(auto tok, LoadModelTokenizer(o.model));
    ASSIGN_OR_RETURN(std::vector<int32_t> tokens,
                     LoadTokens(o.text, *tok, model->config().vocab_size));
    ProgressBar bar("eval", 0, true);
    PerplexityOptions po;
    po.seqlen = seqlen;
    po.max_windows = o.max_windows;
    po.batch_size = o.batch_size;
    po.progress = [&](int64_t done, int64_t total) {
      bar.SetTotal(total);
      bar.Update(done, "windows");
    };
    ASSIGN_OR_RETURN(PerplexityResult r, EvaluatePerplexity(*model, tokens, po));
    bar.Finish();
    out << absl::StrFormat("perplexity %.4f over %d windows of %d tokens (%d tokens in text)\n",
                           r.ppl, r.windows, seqlen, r.tokens);
    if (o.json) {
      Json j = {{"ppl", r.ppl}, {"tokens", r.tokens}, {"windows", r.windows}, {"seqlen", seqlen}};
      out << DumpJson(j) << "\n";
    }
    return absl::OkStatus();
  });
}

}  // namespace eqat
