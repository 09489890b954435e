#include "client/remote_commands.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/file_util.h"
#include "common/progress.h"
#include "common/rpc/credentials.h"
#include "common/rpc/grpc_status.h"
#include "common/status_macros.h"
#include "eqat/v1/quantization_service.grpc.pb.h"

namespace eqat {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

// The token in a token file (see the header); `flag` names its source.
absl::StatusOr<std::string> ReadToken(const std::string& flag, const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat(flag, ": ", text.status().message()));
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    absl::string_view token = absl::StripAsciiWhitespace(line.substr(0, line.find(',')));
    if (token.empty()) break;
    return std::string(token);
  }
  return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " holds no token"));
}

// A stub of the coordinator and the metadata every call carries.
struct Connection {
  std::unique_ptr<v1::QuantizationService::Stub> stub;
  std::string coordinator;
  std::string authorization;  // "Bearer TOKEN", or empty

  void Prepare(grpc::ClientContext* ctx) const {
    if (!authorization.empty()) ctx->AddMetadata("authorization", authorization);
  }
};

absl::StatusOr<Connection> Connect(const ConnectOptions& o) {
  if (o.coordinator.empty()) return absl::InvalidArgumentError("--coordinator: is required");
  TlsConfig tls;
  tls.insecure = o.insecure || Env("EQAT_INSECURE") == "1";
  tls.ca_file = o.tls_ca.empty() ? Env("EQAT_TLS_CA") : o.tls_ca;
  tls.server_name = o.tls_server_name.empty() ? Env("EQAT_TLS_SERVER_NAME") : o.tls_server_name;
  Connection c;
  c.coordinator = o.coordinator;
  std::string token;
  if (!o.token_file.empty()) {
    ASSIGN_OR_RETURN(token, ReadToken("--token-file", o.token_file));
  } else if (!Env("EQAT_TOKEN").empty()) {
    token = std::string(absl::StripAsciiWhitespace(Env("EQAT_TOKEN")));
  } else if (!Env("EQAT_TOKEN_FILE").empty()) {
    ASSIGN_OR_RETURN(token, ReadToken("EQAT_TOKEN_FILE", Env("EQAT_TOKEN_FILE")));
  }
  for (char ch : token) {
    if (ch < 0x21 || ch > 0x7e) {
      return absl::InvalidArgumentError("--token-file: the token has a character that is not printable ASCII");
    }
  }
  if (!token.empty()) c.authorization = absl::StrCat("Bearer ", token);
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel, OpenChannel(o.coordinator, tls));
  c.stub = v1::QuantizationService::NewStub(channel);
  return c;
}

absl::Status Rpc(const grpc::Status& st, const std::string& coordinator) {
  if (st.ok()) return absl::OkStatus();
  if (st.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return absl::UnavailableError(absl::StrCat("coordinator ", coordinator,
                                               " unreachable: ", st.error_message()));
  }
  return FromGrpc(st);
}

void SetDeadline(grpc::ClientContext* ctx, double seconds) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
}

std::string StateName(v1::JobState s) {
  std::string n = v1::JobState_Name(s);
  for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return n;
}

// The job as one line of proto3 JSON: field names as in the .proto, enums by
// name ("state":"SUCCEEDED"), fields at their default value left out.
absl::StatusOr<std::string> JobJson(const v1::Job& j) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  std::string out;
  auto st = google::protobuf::util::MessageToJsonString(j, &out, opts);
  if (!st.ok()) {
    return absl::InternalError(absl::StrCat("job ", j.id(), " as JSON: ", st.ToString()));
  }
  return out;
}

std::string JobLine(const v1::Job& j) {
  return absl::StrFormat("%s  %-9s %-9s blocks %d/%d  %s%s", j.id(), StateName(j.state()), j.stage(),
                         j.blocks_done(), j.blocks_total(), j.spec().output_dir(),
                         j.error().empty() ? "" : absl::StrCat("  error: ", j.error()));
}

// What watch and cancel print: JobJson with --json, else JobLine.
absl::StatusOr<std::string> JobOutput(const v1::Job& j, bool json) {
  if (json) return JobJson(j);
  return JobLine(j);
}

// Streams a job's events until its final event; returns the final job.
absl::StatusOr<v1::Job> Follow(const Connection& c, const std::string& id, bool progress,
                               bool json_only, std::ostream& out) {
  const auto& stub = c.stub;
  const std::string& coordinator = c.coordinator;
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::WatchJobRequest req;
  req.set_id(id);
  auto reader = stub->WatchJob(&ctx, req);
  v1::ProgressEvent e;
  std::map<int, std::unique_ptr<ProgressBar>> bars;
  bool tty = progress && isatty(STDERR_FILENO);
  while (reader->Read(&e)) {
    if (!e.message().empty()) {
      for (auto& [k, b] : bars) b->Finish();
      if (!json_only) out << "[" << StateName(e.state()) << "] " << e.message() << std::endl;
    } else if (e.total_steps() > 0 && tty) {
      auto& bar = bars[e.stage_index()];
      if (!bar) bar = std::make_unique<ProgressBar>(absl::StrCat(e.stage(), " stage ", e.stage_index()),
                                                    e.total_steps());
      bar->SetTotal(e.total_steps());
      bar->Update(e.step(), absl::StrFormat("block %d loss %.4g eta %s", e.block(), e.loss(),
                                            ProgressBar::FormatDuration(e.eta_seconds())));
    }
  }
  for (auto& [k, b] : bars) b->Finish();
  absl::Status st = Rpc(reader->Finish(), coordinator);
  if (!st.ok()) return st;
  grpc::ClientContext gctx;
  c.Prepare(&gctx);
  SetDeadline(&gctx, 30);
  v1::GetJobRequest g;
  g.set_id(id);
  v1::Job job;
  st = Rpc(stub->GetJob(&gctx, g, &job), coordinator);
  if (!st.ok()) return st;
  return job;
}

absl::Status FinalStatus(const v1::Job& j) {
  if (j.state() == v1::SUCCEEDED) return absl::OkStatus();
  if (j.state() == v1::CANCELLED) return absl::AbortedError(absl::StrCat("job ", j.id(), " was cancelled"));
  return absl::AbortedError(absl::StrCat("job ", j.id(), " failed: ", j.error()));
}

}  // namespace

absl::Status RunSubmit(const SubmitOptions& o, std::ostream& out) {
  // The coordinator validates the spec (common/job/job_spec.h) and names any
  // bad field as spec.<field>; two fields are checked here for a friendlier
  // message before connecting.
  if (o.spec.model_dir().empty()) return absl::InvalidArgumentError("--model: is required");
  if (o.spec.output_dir().empty()) return absl::InvalidArgumentError("--out: is required");
  const v1::JobSpec& s = o.spec;
  ASSIGN_OR_RETURN(Connection c, Connect(o.connect));
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  SetDeadline(&ctx, o.timeout_s);
  v1::SubmitJobRequest req;
  *req.mutable_spec() = s;
  v1::Job job;
  absl::Status st = Rpc(c.stub->SubmitJob(&ctx, req, &job), c.coordinator);
  if (!st.ok()) return st;
  if (!o.json) out << "submitted " << job.id() << "\n";
  if (!o.wait) {
    if (o.json) {
      ASSIGN_OR_RETURN(std::string line, JobJson(job));
      out << line << "\n";
    }
    return absl::OkStatus();
  }
  absl::StatusOr<v1::Job> fin = Follow(c, job.id(), o.progress, o.json, out);
  if (!fin.ok()) return fin.status();
  if (o.json) {
    ASSIGN_OR_RETURN(std::string line, JobJson(*fin));
    out << line << "\n";
  } else if (fin->state() == v1::SUCCEEDED) {
    out << absl::StrFormat("done: %s  ppl %.4f (fp %.4f)  %.1fs\n", fin->result().output_dir(),
                           fin->result().ppl(), fin->result().fp_ppl(),
                           fin->result().wall_seconds());
  }
  return FinalStatus(*fin);
}

absl::Status RunWatch(const RemoteOptions& o, std::ostream& out) {
  if (o.job.empty()) return absl::InvalidArgumentError("JOB: give a job id (eqat watch JOB)");
  ASSIGN_OR_RETURN(Connection c, Connect(o.connect));
  absl::StatusOr<v1::Job> fin = Follow(c, o.job, o.progress, o.json, out);
  if (!fin.ok()) return fin.status();
  ASSIGN_OR_RETURN(std::string line, JobOutput(*fin, o.json));
  out << line << "\n";
  return FinalStatus(*fin);
}

absl::Status RunStatus(const RemoteOptions& o, std::ostream& out) {
  if (o.job.empty()) return absl::InvalidArgumentError("JOB: give a job id (eqat status JOB)");
  ASSIGN_OR_RETURN(Connection c, Connect(o.connect));
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  SetDeadline(&ctx, 30);
  v1::GetJobRequest req;
  req.set_id(o.job);
  v1::Job job;
  absl::Status st = Rpc(c.stub->GetJob(&ctx, req, &job), c.coordinator);
  if (!st.ok()) return st;
  if (o.json) {
    ASSIGN_OR_RETURN(std::string line, JobJson(job));
    out << line << "\n";
    return absl::OkStatus();
  }
  out << JobLine(job) << "\n";
  for (const auto& s : job.stages()) {
    out << absl::StrFormat("  stage %d  blocks %d-%d  %-9s %s  %d done\n", s.index(), s.first_block(),
                           s.last_block() - 1, s.state(), s.worker_id(), s.blocks_done());
  }
  return absl::OkStatus();
}

absl::Status RunList(const RemoteOptions& o, std::ostream& out) {
  if (o.page_size < 1 || o.page_size > 500) {
    return absl::InvalidArgumentError(
        absl::StrCat("--page-size: ", o.page_size, " must be in [1, 500]"));
  }
  v1::ListJobsRequest req;
  req.set_page_size(o.page_size);
  if (!o.state.empty()) {
    std::string up = o.state;
    for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    v1::JobState s;
    if (!v1::JobState_Parse(up, &s) || s == v1::JOB_STATE_UNSPECIFIED) {
      return absl::InvalidArgumentError(absl::StrCat("--state: '", o.state, "' is not a job state"));
    }
    req.set_state(s);
  }
  ASSIGN_OR_RETURN(Connection c, Connect(o.connect));
  std::vector<std::string> json_jobs;
  for (;;) {
    grpc::ClientContext ctx;
    c.Prepare(&ctx);
    SetDeadline(&ctx, 30);
    v1::ListJobsResponse resp;
    absl::Status st = Rpc(c.stub->ListJobs(&ctx, req, &resp), c.coordinator);
    if (!st.ok()) return st;
    for (const auto& j : resp.jobs()) {
      if (o.json) {
        ASSIGN_OR_RETURN(std::string line, JobJson(j));
        json_jobs.push_back(std::move(line));
      } else {
        out << JobLine(j) << "\n";
      }
    }
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  // One line: a JSON array of the jobs.
  if (o.json) out << "[" << absl::StrJoin(json_jobs, ",") << "]\n";
  return absl::OkStatus();
}

absl::Status RunCancel(const RemoteOptions& o, std::ostream& out) {
  if (o.job.empty()) return absl::InvalidArgumentError("JOB: give a job id (eqat cancel JOB)");
  ASSIGN_OR_RETURN(Connection c, Connect(o.connect));
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  SetDeadline(&ctx, 30);
  v1::CancelJobRequest req;
  req.set_id(o.job);
  v1::Job job;
  absl::Status st = Rpc(c.stub->CancelJob(&ctx, req, &job), c.coordinator);
  if (!st.ok()) return st;
  ASSIGN_OR_RETURN(std::string line, JobOutput(job, o.json));
  out << line << "\n";
  return absl::OkStatus();
}

}  // namespace eqat
