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
#include "common/progress.h"
#include "common/rpc/grpc_status.h"
#include "common/status_macros.h"
#include "eqat/v1/quantization_service.grpc.pb.h"

namespace eqat {
namespace {

std::unique_ptr<v1::QuantizationService::Stub> Connect(const std::string& addr) {
  return v1::QuantizationService::NewStub(
      grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
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
absl::StatusOr<v1::Job> Follow(const std::string& coordinator, const std::string& id, bool progress,
                               bool json_only, std::ostream& out) {
  auto stub = Connect(coordinator);
  grpc::ClientContext ctx;
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
  if (o.coordinator.empty()) return absl::InvalidArgumentError("--coordinator: is required");
  // The coordinator validates the spec (common/job/job_spec.h) and names any
  // bad field as spec.<field>; two fields are checked here for a friendlier
  // message before connecting.
  if (o.spec.model_dir().empty()) return absl::InvalidArgumentError("--model: is required");
  if (o.spec.output_dir().empty()) return absl::InvalidArgumentError("--out: is required");
  const v1::JobSpec& s = o.spec;
  auto stub = Connect(o.coordinator);
  grpc::ClientContext ctx;
  SetDeadline(&ctx, o.timeout_s);
  v1::SubmitJobRequest req;
  *req.mutable_spec() = s;
  v1::Job job;
  absl::Status st = Rpc(stub->SubmitJob(&ctx, req, &job), o.coordinator);
  if (!st.ok()) return st;
  if (!o.json) out << "submitted " << job.id() << "\n";
  if (!o.wait) {
    if (o.json) {
      ASSIGN_OR_RETURN(std::string line, JobJson(job));
      out << line << "\n";
    }
    return absl::OkStatus();
  }
  absl::StatusOr<v1::Job> fin = Follow(o.coordinator, job.id(), o.progress, o.json, out);
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
  absl::StatusOr<v1::Job> fin = Follow(o.coordinator, o.job, o.progress, o.json, out);
  if (!fin.ok()) return fin.status();
  ASSIGN_OR_RETURN(std::string line, JobOutput(*fin, o.json));
  out << line << "\n";
  return FinalStatus(*fin);
}

absl::Status RunStatus(const RemoteOptions& o, std::ostream& out) {
  if (o.job.empty()) return absl::InvalidArgumentError("JOB: give a job id (eqat status JOB)");
  auto stub = Connect(o.coordinator);
  grpc::ClientContext ctx;
  SetDeadline(&ctx, 30);
  v1::GetJobRequest req;
  req.set_id(o.job);
  v1::Job job;
  absl::Status st = Rpc(stub->GetJob(&ctx, req, &job), o.coordinator);
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
  auto stub = Connect(o.coordinator);
  std::vector<std::string> json_jobs;
  for (;;) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, 30);
    v1::ListJobsResponse resp;
    absl::Status st = Rpc(stub->ListJobs(&ctx, req, &resp), o.coordinator);
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
  auto stub = Connect(o.coordinator);
  grpc::ClientContext ctx;
  SetDeadline(&ctx, 30);
  v1::CancelJobRequest req;
  req.set_id(o.job);
  v1::Job job;
  absl::Status st = Rpc(stub->CancelJob(&ctx, req, &job), o.coordinator);
  if (!st.ok()) return st;
  ASSIGN_OR_RETURN(std::string line, JobOutput(job, o.json));
  out << line << "\n";
  return absl::OkStatus();
}

}  // namespace eqat
