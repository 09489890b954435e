// eqat: the command-line client. Thin: flags (the declarative table) and
// dispatch; the work is in client/ commands. Exit codes: 0 ok, 1 internal
// error, 2 bad input (flags, files, values), with a message naming the field.
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "client/commands.h"
#include "common/version.h"
#ifdef EQAT_WITH_SERVICE
#include "client/remote_commands.h"
#endif
#include "common/flag_parser.h"
#include "common/job/job_flags.h"
#include "common/job/job_spec.h"
#include "worker/model/compute_threads.h"

ABSL_FLAG(std::string, model, "", "model folder (Hugging Face layout: config.json, safetensors, tokenizer.json or tokenizer.model)");
ABSL_FLAG(std::string, out, "", "output folder for the quantized model (must not exist or be empty)");
ABSL_FLAG(std::string, text, "", "evaluation text: raw text, .jsonl with \"text\" fields, or pre-tokenized .bin");
ABSL_FLAG(int64_t, seqlen, 0, "tokens per window (unset or 0 for eval: min(2048, max_position_embeddings))");
ABSL_FLAG(int64_t, max_windows, 0, "evaluate at most this many windows (0: all)");
ABSL_FLAG(int64_t, batch, eqat::job_defaults::kBatch, "windows per forward pass");
ABSL_FLAG(std::string, adapter, "", "eval: a PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors) applied to --model");
ABSL_FLAG(bool, json, false, "print a one-line JSON summary as the last line");
ABSL_FLAG(std::string, method, eqat::job_defaults::kMethod, "quantization method: efficientqat, gptq, rtn, lrqat or apiq");
ABSL_FLAG(int32_t, bits, eqat::job_defaults::kBits, "weight bits: 2, 3, 4 or 8");
ABSL_FLAG(int32_t, group, eqat::job_defaults::kGroupSize, "group size along in_features: 32, 64, 128 or -1 (per output channel)");
ABSL_FLAG(std::string, calib, "", "calibration text (raw, .jsonl or .bin); required except for rtn");
ABSL_FLAG(int64_t, samples, eqat::job_defaults::kSamples, "calibration windows (EfficientQAT default 4096; tests and the bundled job use fewer)");
ABSL_FLAG(uint64_t, seed, eqat::job_defaults::kSeed, "random seed for calibration sampling and training");
ABSL_FLAG(std::string, eval_text, "", "after quantizing, evaluate fp and quantized perplexity on this text");
ABSL_FLAG(int64_t, eval_seqlen, 0, "window length for --eval-text (unset: min(2048, max_position_embeddings))");
ABSL_FLAG(int64_t, eval_max_windows, eqat::job_defaults::kEvalMaxWindows, "at most this many --eval-text windows (0: all)");
ABSL_FLAG(std::string, zeros, eqat::job_defaults::kZeros, "zero-point format written: v2 (as is, EfficientQAT) or v1 (GPTQ zero-1)");
ABSL_FLAG(std::string, format, eqat::job_defaults::kFormat, "checkpoint format written: gptq, awq (4-bit only) or compressed-tensors (pack-quantized)");
ABSL_FLAG(bool, overwrite, false, "replace a non-empty --out folder");
ABSL_FLAG(bool, progress, true, "show a progress bar on a terminal");
ABSL_FLAG(int32_t, threads, 0, "compute threads (0: all cores)");
ABSL_FLAG(std::string, device, "cpu", "compute device: cpu, cuda or cuda:N");
ABSL_FLAG(int64_t, epochs, eqat::job_defaults::kEpochs, "Block-AP epochs over the calibration windows");
ABSL_FLAG(int64_t, ap_batch, eqat::job_defaults::kApBatch, "Block-AP training batch (windows)");
ABSL_FLAG(double, quant_lr, eqat::job_defaults::kQuantLr, "Block-AP learning rate of step sizes and zero points");
ABSL_FLAG(double, weight_lr, 0, "Block-AP learning rate of weights, or of the low-rank factors for lrqat / apiq (unset: 2e-5 for 2-bit, 1e-5 otherwise; 1e-4 for lrqat / apiq)");
ABSL_FLAG(int64_t, val_samples, eqat::job_defaults::kValSamples, "Block-AP validation windows, besides --samples and disjoint from them (0 for rtn/gptq)");
ABSL_FLAG(std::string, calib_windows, eqat::job_defaults::kCalibWindows, "calibration windows: chunks (non-overlapping, shuffled grid) or random (random starts, may overlap)");
ABSL_FLAG(bool, ap_shuffle, false, "reshuffle the Block-AP windows every epoch (default: one fixed order, as the official code)");
ABSL_FLAG(std::string, precision, eqat::job_defaults::kPrecision, "training arithmetic on CUDA: fp16 (autocast + loss scaling), bf16 or fp32; CPUs use fp32");
ABSL_FLAG(int32_t, rank, 0, "lrqat / apiq: low-rank (LoRA) rank (unset: 32 for lrqat, 64 for apiq)");
ABSL_FLAG(double, alpha, 0, "lrqat / apiq: the low-rank factor is alpha / rank (unset: 32 for lrqat, 16 for apiq)");
ABSL_FLAG(bool, lrqat_checkpointing, false, "lrqat: recompute the low-rank weight and its fake-quant in backward (less memory, one more weight pass per step)");
ABSL_FLAG(bool, e2e_lora, false, "apiq: train the LoRA factors end to end after the blocks (text, or instruction .jsonl as Q-PEFT)");
ABSL_FLAG(std::string, cache_budget, "4G", "RAM for each cached activation set; beyond it a memory-mapped spill file");
ABSL_FLAG(std::string, spill_dir, "/tmp", "folder for activation spill files (unlinked at once)");
ABSL_FLAG(bool, e2e, true, "run E2E-QP after Block-AP (efficientqat)");
ABSL_FLAG(std::string, e2e_data, "", "E2E-QP data: text/.jsonl/.bin windows, or an instruction .jsonl for Q-PEFT (default: --calib)");
ABSL_FLAG(int64_t, e2e_samples, 0, "E2E-QP windows / examples (unset: 4096, the official recipe)");
ABSL_FLAG(int64_t, e2e_seqlen, 0, "E2E-QP window length (unset: min(4096, max_position_embeddings))");
ABSL_FLAG(int64_t, e2e_epochs, eqat::job_defaults::kE2eEpochs, "E2E-QP epochs");
ABSL_FLAG(double, e2e_lr, 0, "E2E-QP learning rate (unset: 2e-5 for 2-bit, 1e-5 otherwise)");
ABSL_FLAG(int64_t, e2e_batch, eqat::job_defaults::kE2eBatch, "E2E-QP micro-batch (examples)");
ABSL_FLAG(int64_t, e2e_accum, eqat::job_defaults::kE2eAccum, "E2E-QP gradient accumulation (micro-batches per step)");
ABSL_FLAG(bool, e2e_checkpointing, false, "recompute each block in the E2E-QP backward pass (less memory)");
ABSL_FLAG(std::string, coordinator, "127.0.0.1:50051", "coordinator gRPC address");
ABSL_FLAG(std::string, token_file, "", "coordinator: file with the bearer token (default: $EQAT_TOKEN, else the file $EQAT_TOKEN_FILE)");
ABSL_FLAG(std::string, tls_ca, "", "coordinator: PEM CA of its TLS certificate (default: $EQAT_TLS_CA)");
ABSL_FLAG(std::string, tls_server_name, "", "coordinator: name its certificate must carry, if not the address's host");
ABSL_FLAG(bool, insecure, false, "coordinator: plaintext gRPC (a coordinator started with --insecure)");
ABSL_FLAG(std::string, schedule, "sequential", "submit: sequential or pipelined");
ABSL_FLAG(double, anneal_fraction, eqat::job_defaults::kAnnealFraction, "submit, pipelined: share of steps over which lambda goes 1 -> 0");
ABSL_FLAG(int32_t, max_stages, eqat::job_defaults::kMaxStages, "submit: at most this many stages (0: one per worker)");
ABSL_FLAG(bool, wait, false, "submit: follow the job until it ends (exit 0 only on success)");
ABSL_FLAG(std::string, state, "", "list: only jobs in this state");
ABSL_FLAG(int32_t, page_size, 50, "list: jobs per ListJobs page (1..500; every page is fetched)");
ABSL_FLAG(std::string, prompt, "Once upon a time", "prompt for generate");
ABSL_FLAG(int64_t, max_new_tokens, 60, "tokens to generate");
ABSL_FLAG(bool, bos, true, "prepend BOS to the prompt");
ABSL_FLAG(bool, special, false, "tokenize: add the tokenizer's BOS/EOS, as its post-processor says");
ABSL_FLAG(bool, plan, false, "inspect: estimate the peak memory of a job on this model (job flags as for quantize)");
ABSL_FLAG(int32_t, workers, 1, "inspect --plan: split the blocks evenly over this many workers");

namespace {

struct Command {
  std::string summary;
  std::set<std::string> flags;
  absl::Status (*run)(const eqat::ParsedArgs&);
  int max_positional = 0;  // JOB for watch/status/cancel
};

absl::Status DoEval(const eqat::ParsedArgs&) {
  eqat::EvalOptions o;
  o.model = absl::GetFlag(FLAGS_model);
  o.text = absl::GetFlag(FLAGS_text);
  o.seqlen = absl::GetFlag(FLAGS_seqlen);
  o.max_windows = absl::GetFlag(FLAGS_max_windows);
  o.batch_size = absl::GetFlag(FLAGS_batch);
  o.json = absl::GetFlag(FLAGS_json);
  o.adapter = absl::GetFlag(FLAGS_adapter);
  return eqat::RunEval(o, std::cout);
}

// The job flags given on the command line, as a JobSpec (common/job/job_flags.h):
// flags left out stay unset, so ValidateJobSpec applies the one default.
absl::StatusOr<eqat::v1::JobSpec> JobSpecFlags(const eqat::ParsedArgs& a) {
  std::map<std::string, std::string> given;
  for (const eqat::JobFlag& f : eqat::JobFlagTable()) {
    if (a.given.count(f.flag) == 0) continue;
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(f.flag);
    if (flag != nullptr) given[f.flag] = flag->CurrentValue();
  }
  return eqat::JobSpecFromFlagValues(given);
}

absl::StatusOr<eqat::QuantizeOptions> QuantizeFlags(const eqat::ParsedArgs& a) {
  eqat::QuantizeOptions o;
  absl::StatusOr<eqat::v1::JobSpec> spec = JobSpecFlags(a);
  if (!spec.ok()) return spec.status();
  o.spec = *std::move(spec);
  o.json = absl::GetFlag(FLAGS_json);
  o.progress = absl::GetFlag(FLAGS_progress);
  o.device = absl::GetFlag(FLAGS_device);
  o.cache_budget = absl::GetFlag(FLAGS_cache_budget);
  o.spill_dir = absl::GetFlag(FLAGS_spill_dir);
  return o;
}

absl::Status DoQuantize(const eqat::ParsedArgs& a) {
  absl::StatusOr<eqat::QuantizeOptions> o = QuantizeFlags(a);
  if (!o.ok()) return o.status();
  return eqat::RunQuantize(*o, std::cout);
}

#ifdef EQAT_WITH_SERVICE
eqat::ConnectOptions ConnectFlags() {
  eqat::ConnectOptions c;
  c.coordinator = absl::GetFlag(FLAGS_coordinator);
  c.token_file = absl::GetFlag(FLAGS_token_file);
  c.tls_ca = absl::GetFlag(FLAGS_tls_ca);
  c.tls_server_name = absl::GetFlag(FLAGS_tls_server_name);
  c.insecure = absl::GetFlag(FLAGS_insecure);
  return c;
}

absl::Status DoSubmit(const eqat::ParsedArgs& a) {
  eqat::SubmitOptions o;
  o.connect = ConnectFlags();
  absl::StatusOr<eqat::v1::JobSpec> spec = JobSpecFlags(a);
  if (!spec.ok()) return spec.status();
  o.spec = *std::move(spec);
  o.wait = absl::GetFlag(FLAGS_wait);
  o.json = absl::GetFlag(FLAGS_json);
  o.progress = absl::GetFlag(FLAGS_progress);
  return eqat::RunSubmit(o, std::cout);
}

eqat::RemoteOptions RemoteFlags(const eqat::ParsedArgs& a) {
  eqat::RemoteOptions o;
  o.connect = ConnectFlags();
  if (!a.positional.empty()) o.job = a.positional[0];
  o.state = absl::GetFlag(FLAGS_state);
  o.page_size = absl::GetFlag(FLAGS_page_size);
  o.json = absl::GetFlag(FLAGS_json);
  o.progress = absl::GetFlag(FLAGS_progress);
  return o;
}

absl::Status DoWatch(const eqat::ParsedArgs& a) { return eqat::RunWatch(RemoteFlags(a), std::cout); }
absl::Status DoStatus(const eqat::ParsedArgs& a) { return eqat::RunStatus(RemoteFlags(a), std::cout); }
absl::Status DoList(const eqat::ParsedArgs& a) { return eqat::RunList(RemoteFlags(a), std::cout); }
absl::Status DoCancel(const eqat::ParsedArgs& a) { return eqat::RunCancel(RemoteFlags(a), std::cout); }
#endif

// Every job flag (the table in common/job/job_flags.h) but the cluster's
// schedule knobs, plus this process's own.
const std::set<std::string>& QuantizeFlagNames() {
  static const auto* names = [] {
    auto* n = new std::set<std::string>{"json", "progress", "threads", "device", "cache_budget",
                                        "spill_dir"};
    for (const eqat::JobFlag& f : eqat::JobFlagTable()) {
      if (f.flag != "schedule" && f.flag != "anneal_fraction" && f.flag != "max_stages") {
        n->insert(f.flag);
      }
    }
    return n;
  }();
  return *names;
}

std::set<std::string> Union(std::set<std::string> a, const std::set<std::string>& b) {
  a.insert(b.begin(), b.end());
  return a;
}

absl::Status DoGenerate(const eqat::ParsedArgs&) {
  eqat::GenerateOptions o;
  o.model = absl::GetFlag(FLAGS_model);
  o.prompt = absl::GetFlag(FLAGS_prompt);
  o.max_new_tokens = absl::GetFlag(FLAGS_max_new_tokens);
  o.bos = absl::GetFlag(FLAGS_bos);
  o.json = absl::GetFlag(FLAGS_json);
  return eqat::RunGenerate(o, std::cout);
}

absl::Status DoInspect(const eqat::ParsedArgs& a) {
  eqat::InspectOptions o;
  o.model = absl::GetFlag(FLAGS_model);
  o.json = absl::GetFlag(FLAGS_json);
  o.plan = absl::GetFlag(FLAGS_plan);
  o.workers = absl::GetFlag(FLAGS_workers);
  o.device = absl::GetFlag(FLAGS_device);
  o.cache_budget = absl::GetFlag(FLAGS_cache_budget);
  if (o.plan) {
    absl::StatusOr<eqat::v1::JobSpec> spec = JobSpecFlags(a);
    if (!spec.ok()) return spec.status();
    o.spec = *std::move(spec);
  }
  return eqat::RunInspect(o, std::cout);
}

absl::Status DoTokenize(const eqat::ParsedArgs&) {
  eqat::TokenizeOptions o;
  o.model = absl::GetFlag(FLAGS_model);
  o.text = absl::GetFlag(FLAGS_text);
  o.special = absl::GetFlag(FLAGS_special);
  o.json = absl::GetFlag(FLAGS_json);
  return eqat::RunTokenize(o, std::cout, std::cerr);
}

absl::Status DoVersion(const eqat::ParsedArgs&) {
  std::cout << "eqat " << eqat::kEqatVersion << "\n";
  return absl::OkStatus();
}

absl::Status DoConvert(const eqat::ParsedArgs&) {
  eqat::ConvertOptions o;
  o.model = absl::GetFlag(FLAGS_model);
  o.out = absl::GetFlag(FLAGS_out);
  o.format = absl::GetFlag(FLAGS_format);
  o.zeros = absl::GetFlag(FLAGS_zeros);
  o.overwrite = absl::GetFlag(FLAGS_overwrite);
  o.json = absl::GetFlag(FLAGS_json);
  return eqat::RunConvert(o, std::cout);
}

#ifdef EQAT_WITH_SERVICE
const std::set<std::string> kConnectFlags = {"coordinator", "token_file", "tls_ca",
                                             "tls_server_name", "insecure"};
#endif

const std::map<std::string, Command>& Commands() {
  static const auto* cmds = new std::map<std::string, Command>{
      {"eval", {"perplexity of a model (fp or quantized) on a text",
                {"model", "text", "seqlen", "max_windows", "batch", "json", "threads", "adapter"},
                DoEval}},
      {"quantize", {"quantize a model in this process (Block-AP + E2E-QP, GPTQ or RTN)",
                    QuantizeFlagNames(), DoQuantize}},
#ifdef EQAT_WITH_SERVICE
      {"submit", {"submit a quantization job to a coordinator (same flags as quantize)",
                  Union(QuantizeFlagNames(),
                        {"coordinator", "token_file", "tls_ca", "tls_server_name", "insecure",
                         "schedule", "anneal_fraction", "max_stages", "wait"}),
                  DoSubmit}},
      {"watch", {"follow a job's progress until it ends: eqat watch JOB",
                 Union(kConnectFlags, {"json", "progress"}), DoWatch, 1}},
      {"status", {"show a job: eqat status JOB", Union(kConnectFlags, {"json"}), DoStatus, 1}},
      {"list", {"list jobs", Union(kConnectFlags, {"json", "state", "page_size"}), DoList}},
      {"cancel", {"cancel a job: eqat cancel JOB", Union(kConnectFlags, {"json"}), DoCancel, 1}},
#endif
      {"generate", {"greedy text continuation of a prompt",
                    {"model", "prompt", "max_new_tokens", "bos", "json", "threads"}, DoGenerate}},
      {"inspect", {"summarise a model folder; --plan: a job's estimated peak memory per stage",
                   Union(QuantizeFlagNames(), {"plan", "workers", "schedule", "max_stages"}),
                   DoInspect}},
      {"convert", {"rewrite a quantized folder in another format (gptq, awq, compressed-tensors)",
                   {"model", "out", "format", "zeros", "overwrite", "json", "threads"}, DoConvert}},
      {"tokenize", {"print the token ids of a text file (tokenizer.json or tokenizer.model)",
                    {"model", "text", "special", "json"}, DoTokenize}},
      {"version", {"print eqat's version", {}, DoVersion}},
  };
  return *cmds;
}

void PrintUsage(std::ostream& os) {
  os << "usage: eqat <command> [flags]\n\ncommands:\n";
  for (const auto& [name, c] : Commands()) os << "  " << name << "  " << c.summary << "\n";
  os << "\n'eqat <command> --help' lists a command's flags.\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(std::cerr);
    return 2;
  }
  std::string name = argv[1];
  if (name == "help" || name == "--help" || name == "-h") {
    PrintUsage(std::cout);
    return 0;
  }
  auto it = Commands().find(name);
  if (it == Commands().end()) {
    std::cerr << "eqat: unknown command '" << name << "'\n";
    PrintUsage(std::cerr);
    return 2;
  }
  const Command& cmd = it->second;
  std::vector<std::string> args(argv + 2, argv + argc);
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << "usage: eqat " << name << " [flags]\n" << cmd.summary << "\n\nflags:\n"
                << eqat::FlagsHelp(cmd.flags);
      return 0;
    }
  }
  auto parsed = eqat::ParseSubcommandFlags(args, cmd.flags);
  if (!parsed.ok()) {
    std::cerr << "eqat " << name << ": " << parsed.status().message() << "\n";
    return 2;
  }
  if (static_cast<int>(parsed->positional.size()) > cmd.max_positional) {
    std::cerr << "eqat " << name << ": unexpected argument '"
              << parsed->positional[cmd.max_positional] << "'\n";
    return 2;
  }
  if (absl::GetFlag(FLAGS_threads) < 0) {
    std::cerr << "eqat " << name << ": --threads: must be >= 0 (0: all cores)\n";
    return 2;
  }
  eqat::SetComputeThreads(absl::GetFlag(FLAGS_threads));
  absl::Status st = cmd.run(*parsed);
  if (!st.ok()) {
    std::cerr << "eqat " << name << ": " << st.message() << "\n";
    return eqat::ExitCodeFor(st);
  }
  return 0;
}
