#include "worker/daemon/worker_daemon.h"

#include <grpcpp/grpcpp.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/byte_size.h"
#include "common/job/job_spec.h"
#include "common/job/memory_plan.h"
#include "common/metrics_exposer.h"
#include "common/process_metrics.h"
#include "common/rpc/grpc_status.h"
#include "common/status_macros.h"
#include "eqat/v1/cluster.grpc.pb.h"
#include "worker/stage/block_files.h"
#include "worker/stage/block_stage.h"
#include "worker/stage/finalize_stage.h"
#include "worker/stage/stage_requests.h"
#include "worker/stage/stream_input_feed.h"
#include "worker/transport/transport_factory.h"

namespace eqat {
namespace {

// Thrown from training callbacks when the coordinator aborts the assignment;
// caught at the assignment edge.
struct AbortedByCoordinator {};

}  // namespace

struct WorkerDaemon::Impl {
  WorkerDaemonOptions o;
  std::atomic<bool> stop{false};
  std::unique_ptr<v1::Cluster::Stub> stub;
  std::unique_ptr<WorkerTransport> transport;  // transport/transport_factory.h
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<ProcessCollector> process_metrics = std::make_shared<ProcessCollector>();
  std::unique_ptr<prometheus::Exposer> exposer;  // after what it serves: destroyed first
  prometheus::Counter* steps = nullptr;
  prometheus::Histogram* step_seconds = nullptr;
  prometheus::Family<prometheus::Counter>* transport_bytes = nullptr;
  prometheus::Counter* transport_wait = nullptr;
  prometheus::Family<prometheus::Gauge>* block_loss = nullptr;
  prometheus::Gauge* tokens_per_second = nullptr;
  prometheus::Counter* blocks_done = nullptr;

  absl::Mutex mu;
  std::string worker_id ABSL_GUARDED_BY(mu);
  std::string current ABSL_GUARDED_BY(mu);  // running assignment id
  std::atomic<bool> abort_current{false};

  std::string WorkerId() {
    absl::MutexLock l(&mu);
    return worker_id;
  }

  absl::Status Register() {
    v1::RegisterRequest req;
    req.set_data_address(o.advertise.empty() ? o.listen : o.advertise);
    req.set_metrics_address(o.metrics_listen);
    req.set_name(o.name);
    req.mutable_capacity()->set_device(o.device);
    req.mutable_capacity()->set_cpu_cores(static_cast<int>(std::thread::hardware_concurrency()));
    req.mutable_capacity()->set_memory_bytes(SystemMemoryBytes());
    if (auto b = ParseByteSize("--cache-budget", o.cache_budget); b.ok()) {
      req.mutable_capacity()->set_cache_budget_bytes(*b);
    }
    if (auto b = ParseByteSize("--device-memory", o.device_memory); b.ok()) {
      req.mutable_capacity()->set_device_memory_bytes(*b);
    }
    req.mutable_capacity()->set_accepts_nccl(transport->nccl());
    for (int attempt = 0; !stop; ++attempt) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      v1::RegisterResponse resp;
      grpc::Status st = stub->Register(&ctx, req, &resp);
      if (st.ok()) {
        absl::MutexLock l(&mu);
        worker_id = resp.worker_id();
        fprintf(stderr, "eqat-worker: registered as %s\n", worker_id.c_str());
        return absl::OkStatus();
      }
      if (st.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
          st.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
        // Retrying cannot help: the coordinator refuses this worker's certificate.
        return absl::UnauthenticatedError(absl::StrCat("coordinator ", o.coordinator,
                                                       " refused this worker: ", st.error_message()));
      }
      if (attempt % 10 == 0) {
        fprintf(stderr, "eqat-worker: coordinator %s not reachable yet: %s\n",
                o.coordinator.c_str(), st.error_message().c_str());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    return absl::CancelledError("stopped");
  }

  void HeartbeatLoop() {
    while (!stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      v1::HeartbeatRequest req;
      {
        absl::MutexLock l(&mu);
        req.set_worker_id(worker_id);
        req.set_assignment_id(current);
      }
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      v1::HeartbeatResponse resp;
      if (!stub->Heartbeat(&ctx, req, &resp).ok()) continue;
      if (resp.reregister()) {
        Register().IgnoreError();
        continue;
      }
      for (const std::string& a : resp.abort_assignments()) {
        absl::MutexLock l(&mu);
        if (a == current) abort_current = true;
      }
    }
  }

  void CheckAbort() {
    if (abort_current || stop) throw AbortedByCoordinator{};
  }

  template <typename Req>
  using ReportRpc = grpc::Status (v1::Cluster::Stub::*)(grpc::ClientContext*, const Req&, v1::Ack*);

  // One report call, answered within 10 s or not at all.
  template <typename Req>
  grpc::Status Call(ReportRpc<Req> fn, const Req& req) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::Ack ack;
    return (stub.get()->*fn)(&ctx, req, &ack);
  }

  // A report whose loss costs nothing (progress): one try.
  template <typename Req>
  void Send(ReportRpc<Req> fn, const Req& req) {
    Call(fn, req);
  }

  // Sends a report that must not be lost (a packed block, the end of an
  // assignment) until the coordinator answers: retried with backoff (up to
  // 5 s) while the coordinator is unreachable, for about 2 minutes while it
  // answers with an internal failure; given up on a definite answer (OK, or
  // a refusal such as NOT_FOUND for an assignment it no longer knows) or
  // when the daemon stops. Returns the last status.
  template <typename Req>
  grpc::Status SendReliably(ReportRpc<Req> fn, const Req& req, const char* what) {
    auto backoff = std::chrono::milliseconds(250);
    for (int attempt = 1;; ++attempt) {
      grpc::Status st = Call(fn, req);
      const grpc::StatusCode c = st.error_code();
      // Unreachable: retried for as long as it takes (a coordinator
      // restarting). A coordinator-side failure: retried a few minutes.
      const bool unreachable =
          c == grpc::StatusCode::UNAVAILABLE || c == grpc::StatusCode::DEADLINE_EXCEEDED;
      const bool failing = c == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                           c == grpc::StatusCode::UNKNOWN || c == grpc::StatusCode::INTERNAL;
      if (stop || !(unreachable || (failing && attempt < 30))) return st;
      if (attempt % 10 == 1) {
        fprintf(stderr, "eqat-worker: %s not acknowledged (%s); retrying\n", what,
                st.error_message().c_str());
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
  }

  void Progress(const v1::Assignment& a, const std::string& stage, int block, int64_t step,
                int64_t total, double loss, double step_s, double tok_s) {
    v1::ProgressReport r;
    r.set_worker_id(WorkerId());
    r.set_assignment_id(a.assignment_id());
    r.set_stage(stage);
    r.set_block(block);
    r.set_step(step);
    r.set_total_steps(total);
    r.set_loss(loss);
    r.set_step_seconds(step_s);
    r.set_tokens_per_second(tok_s);
    Send(&v1::Cluster::Stub::ReportProgress, r);
  }

  // Waits for the previous stage to connect to the data listener with
  // `secret` (the assignment's stream_secret; others are refused).
  absl::StatusOr<std::unique_ptr<ActivationReceiver>> AcceptInput(const std::string& secret) {
    for (;;) {
      CheckAbort();
      auto r = transport->Accept(absl::Seconds(1), secret);
      if (r.ok()) return std::move(*r);
      // Strays (port scans, silent or foreign clients) are dropped inside
      // Accept (tcp_transport.h); anything but a timeout means the listener
      // itself failed.
      if (r.status().code() != absl::StatusCode::kDeadlineExceeded) return r.status();
    }
  }

  // Accepts the previous stage's stream and receives its fp inputs; the rest
  // keeps arriving on the feed's thread (worker/stage/stream_input_feed.h).
  absl::StatusOr<std::unique_ptr<StreamInputFeed>> StartFeed(const v1::Assignment& a,
                                                             const ActivationStoreOptions& cache,
                                                             int64_t hidden) {
    auto t0 = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(auto rx, AcceptInput(a.stream_secret()));
    StreamInputFeed::Options fo;
    fo.samples = a.spec().samples() + a.spec().val_samples();  // training + validation rows
    fo.sample_shape = {a.spec().seqlen(), hidden};
    fo.cache = cache;
    fo.on_wait_tick = [this] { CheckAbort(); };
    auto* received = &transport_bytes->Add({{"direction", "received"}});
    fo.on_bytes = [received](int64_t b) { received->Increment(static_cast<double>(b)); };
    ASSIGN_OR_RETURN(auto feed, StreamInputFeed::Start(std::move(rx), fo));
    transport_wait->Increment(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return feed;
  }

  // The stage's inputs. Pipelined: training starts as soon as the fp inputs
  // are in, on copies (the feed keeps mixing from its own); the returned feed
  // is the stage's MREM-P input. Sequential: waits for the whole stream and
  // takes the feed's stores as they are (no feed returned).
  absl::StatusOr<std::unique_ptr<StreamInputFeed>> ReceiveInputs(
      const v1::Assignment& a, const ActivationStoreOptions& cache, int64_t hidden,
      StageActivations* in) {
    ASSIGN_OR_RETURN(auto feed, StartFeed(a, cache, hidden));
    if (!a.pipelined()) {
      auto t0 = std::chrono::steady_clock::now();
      RETURN_IF_ERROR(feed->TakeFinal(&in->fp, &in->q));
      transport_wait->Increment(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      return std::unique_ptr<StreamInputFeed>();
    }
    const int64_t n = feed->fp().size();
    ASSIGN_OR_RETURN(in->fp, ActivationStore::Create(n, feed->fp().sample_shape(), cache));
    ASSIGN_OR_RETURN(in->q, ActivationStore::Create(n, feed->fp().sample_shape(), cache));
    in->fp->CopyFrom(feed->fp());
    in->q->CopyFrom(feed->fp());
    return feed;
  }

  // Sends every sample of `store` as `tag` frames of 8 samples.
  absl::Status SendStore(ActivationSender* tx, const char* tag, const ActivationStore& store,
                         int64_t* bytes) {
    const int64_t batch = 8;
    for (int64_t i = 0; i < store.size(); i += batch) {
      CheckAbort();
      TensorFrame f;
      f.tag = tag;
      f.index = i;
      f.tensor = store.Read(i, std::min(batch, store.size() - i));
      RETURN_IF_ERROR(tx->Send(f));
      *bytes += f.tensor.numel() * 4;
    }
    return absl::OkStatus();
  }

  void ReportStream(const v1::Assignment& a, int64_t bytes, double wait) {
    transport_bytes->Add({{"direction", "sent"}}).Increment(static_cast<double>(bytes));
    transport_wait->Increment(wait);
    v1::ProgressReport r;
    r.set_worker_id(WorkerId());
    r.set_assignment_id(a.assignment_id());
    r.set_stage("stream");
    r.set_transport_bytes(bytes);
    r.set_transport_wait_seconds(wait);
    Send(&v1::Cluster::Stub::ReportProgress, r);
  }

  absl::Status StreamOutputs(const std::string& address, bool peer_nccl, const std::string& secret,
                             const StageActivations& out, const v1::Assignment& a) {
    // Nothing was computed (RTN without calibration text): the next stage
    // expects no inputs either (StreamsActivations), so nothing is sent.
    if (out.fp == nullptr || out.q == nullptr) return absl::OkStatus();
    auto t0 = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(auto tx, transport->Connect(address, peer_nccl, secret));
    int64_t bytes = 0;
    RETURN_IF_ERROR(SendStore(tx.get(), "fp", *out.fp, &bytes));
    RETURN_IF_ERROR(SendStore(tx.get(), "quant", *out.q, &bytes));
    RETURN_IF_ERROR(tx->Close());
    ReportStream(a, bytes, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return absl::OkStatus();
  }

  // Pipelined schedule: the route to the next stage when it already runs
  // elsewhere and waits for its inputs; an empty route (no data_address)
  // when not (within ~10 s).
  v1::RouteResponse EarlyRoute(const v1::Assignment& a) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      CheckAbort();
      v1::RouteRequest rq;
      rq.set_worker_id(WorkerId());
      rq.set_assignment_id(a.assignment_id());
      rq.set_wait_ms(2000);
      rq.set_early(true);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      v1::RouteResponse resp;
      grpc::Status st = stub->GetRoute(&ctx, rq, &resp);
      if (st.ok() && resp.aborted()) throw AbortedByCoordinator{};
      if (st.ok() && resp.ready()) return resp;
    }
    return v1::RouteResponse();
  }

  // Runs a BLOCK_AP assignment (and any "self" continuation). Returns the
  // id of the assignment to finish (continuations change it).
  absl::Status RunBlockAp(v1::Assignment* a, torch::Device device,
                          const ActivationStoreOptions& cache) {
    StageActivations in;
    for (;;) {
      BlockStageRequest r = BlockStageRequestFor(
          a->spec(),
          StageRange{a->job_dir(), a->first_block(), a->last_block(), a->resume_from_block()},
          StageResources{device, cache});
      r.block_checksums = {a->block_checksums().begin(), a->block_checksums().end()};
      r.allowed_roots = {a->allowed_roots().begin(), a->allowed_roots().end()};
      std::unique_ptr<StreamInputFeed> feed;
      // RTN without calibration text computes no activations: nothing flows
      // between its stages, on either side.
      const bool streams = !(r.options.method == QuantMethod::kRtn && r.calib.path.empty());
      if (a->receive_inputs() && in.fp == nullptr && streams) {
        ASSIGN_OR_RETURN(ModelConfig cfg, LoadModelConfig(a->spec().model_dir()));
        ASSIGN_OR_RETURN(feed, ReceiveInputs(*a, cache, cfg.hidden_size, &in));
        if (feed != nullptr) r.options.feed = feed.get();
      }
      // Pipelined: stream to the next stage while training (MREM-P).
      std::unique_ptr<ActivationSender> tx;
      int64_t tx_bytes = 0;
      double tx_seconds = 0;
      const bool has_next = a->stage_index() + 1 < a->num_stages();
      if (a->pipelined() && has_next && streams) {
        r.on_fp_outputs = [&](const ActivationStore& fp) -> absl::Status {
          v1::RouteResponse route = EarlyRoute(*a);
          const std::string& address = route.data_address();
          if (address.empty()) return absl::OkStatus();  // hand over at the end instead
          auto t0 = std::chrono::steady_clock::now();
          auto c = transport->Connect(address, route.data_nccl(), route.data_secret());
          if (!c.ok()) {
            fprintf(stderr, "eqat-worker: pipelined stream to %s: %s; streaming at the end\n",
                    address.c_str(), std::string(c.status().message()).c_str());
            return absl::OkStatus();
          }
          tx = std::move(*c);
          RETURN_IF_ERROR(SendStore(tx.get(), "fp", fp, &tx_bytes));
          tx_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          return absl::OkStatus();
        };
        r.options.on_last_block_output = [&](const std::vector<int64_t>& idx, const torch::Tensor& out) {
          if (tx == nullptr) return;
          auto t0 = std::chrono::steady_clock::now();
          for (size_t j = 0; j < idx.size(); ++j) {
            TensorFrame f;
            f.tag = "qstep";
            f.index = idx[j];
            f.tensor = out.narrow(0, static_cast<int64_t>(j), 1);
            absl::Status st = tx->Send(f);
            if (!st.ok()) {
              // The next stage is gone; it is rebuilt from the packed blocks.
              fprintf(stderr, "eqat-worker: pipelined stream broke: %s\n",
                      std::string(st.message()).c_str());
              tx.reset();
              return;
            }
            tx_bytes += f.tensor.numel() * 4;
          }
          tx_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        };
      }
      const int64_t tokens_per_step = a->spec().ap_batch() * a->spec().seqlen();
      auto last = std::chrono::steady_clock::now();
      auto last_report = last;
      r.options.on_step = [&](int block, int64_t step, int64_t total, double loss) {
        CheckAbort();
        auto now = std::chrono::steady_clock::now();
        double dt = std::chrono::duration<double>(now - last).count();
        last = now;
        steps->Increment();
        step_seconds->Observe(dt);
        double tps = dt > 0 ? tokens_per_step / dt : 0;
        tokens_per_second->Set(tps);
        if (now - last_report > std::chrono::milliseconds(500) || step == total) {
          last_report = now;
          Progress(*a, "block-ap", block, step, total, loss, dt, tps);
        }
      };
      std::map<int, std::pair<std::string, uint64_t>> written;
      r.on_block_written = [&](int i, const std::string& path, uint64_t sum) {
        written[i] = {path, sum};
      };
      r.options.on_block_done = [&](const BlockReport& br) {
        CheckAbort();
        v1::BlockReport rep;
        rep.set_worker_id(WorkerId());
        rep.set_assignment_id(a->assignment_id());
        rep.set_block(br.block);
        rep.set_path(written[br.block].first);
        rep.set_checksum(written[br.block].second);
        rep.set_init_val_loss(br.init_val_loss);
        rep.set_train_loss(br.train_loss);
        rep.set_val_loss(br.val_loss);
        rep.set_output_mse(br.output_mse);
        rep.set_seconds(br.seconds);
        blocks_done->Increment();
        if (!std::isnan(br.train_loss)) block_loss->Add({{"kind", "train"}}).Set(br.train_loss);
        if (!std::isnan(br.val_loss)) block_loss->Add({{"kind", "val"}}).Set(br.val_loss);
        // The block's checksum lives only in this report: it must arrive.
        SendReliably(&v1::Cluster::Stub::ReportBlock, rep, "block report");
      };
      ASSIGN_OR_RETURN(StageActivations out, RunBlockStage(r, std::move(in)));
      feed.reset();
      if (!has_next) return absl::OkStatus();
      if (tx != nullptr) {
        auto t0 = std::chrono::steady_clock::now();
        RETURN_IF_ERROR(SendStore(tx.get(), "quant", *out.q, &tx_bytes));
        RETURN_IF_ERROR(tx->Close());
        tx_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        ReportStream(*a, tx_bytes, tx_seconds);
        return absl::OkStatus();
      }
      // Ask where the next stage runs; stream there or continue here.
      for (;;) {
        CheckAbort();
        v1::RouteRequest rq;
        rq.set_worker_id(WorkerId());
        rq.set_assignment_id(a->assignment_id());
        rq.set_wait_ms(2000);
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        v1::RouteResponse resp;
        grpc::Status st = stub->GetRoute(&ctx, rq, &resp);
        if (!st.ok()) {
          if (st.error_code() == grpc::StatusCode::UNAVAILABLE ||
              st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
            continue;
          }
          return FromGrpc(st);
        }
        if (resp.aborted()) throw AbortedByCoordinator{};
        if (!resp.ready()) continue;
        if (resp.self()) {
          *a = resp.next();
          {
            absl::MutexLock l(&mu);
            current = a->assignment_id();
          }
          in = std::move(out);
          break;
        }
        absl::Status sent =
            StreamOutputs(resp.data_address(), resp.data_nccl(), resp.data_secret(), out, *a);
        if (sent.ok()) return absl::OkStatus();
        fprintf(stderr, "eqat-worker: streaming to %s failed: %s; asking again\n",
                resp.data_address().c_str(), std::string(sent.message()).c_str());
        std::this_thread::sleep_for(std::chrono::seconds(1));
      }
    }
  }

  absl::StatusOr<v1::JobResult> RunFinalizeAssignment(const v1::Assignment& a, torch::Device device) {
    const v1::JobSpec& s = a.spec();
    FinalizeRequest r = FinalizeRequestFor(s, a.job_dir(), StageResources{device, {}});
    r.commit_id = a.job_id();  // a retried finalize may replace its own output (job_dir/commit)
    r.block_checksums = {a.block_checksums().begin(), a.block_checksums().end()};
    r.allowed_roots = {a.allowed_roots().begin(), a.allowed_roots().end()};
    r.e2e_options.on_step = [&](int64_t step, int64_t total, double loss) {
      CheckAbort();
      Progress(a, "e2e-qp", -1, step, total, loss, 0, 0);
    };
    r.on_stage = [&](const std::string& st) {
      CheckAbort();
      Progress(a, st, -1, 0, 0, 0, 0, 0);
    };
    ASSIGN_OR_RETURN(FinalizeResult fr, RunFinalize(r));
    v1::JobResult res;
    res.set_output_dir(s.output_dir());
    res.set_fp_ppl(fr.fp_ppl);
    res.set_ppl(fr.ppl);
    res.set_block_ap_ppl(fr.block_ap_ppl);
    res.set_eval_windows(fr.eval_windows);
    for (const auto& [file, sum] : fr.output_checksums) (*res.mutable_output_checksums())[file] = sum;
    // The job folder (its packed blocks) is removed only once the
    // coordinator has acknowledged this result (Execute): until then a
    // retried finalize still needs the blocks.
    return res;
  }

  void Execute(v1::Assignment a, torch::Device device, const ActivationStoreOptions& cache) {
    {
      absl::MutexLock l(&mu);
      current = a.assignment_id();
    }
    abort_current = false;
    fprintf(stderr, "eqat-worker: %s (%s)\n", a.assignment_id().c_str(),
            v1::AssignmentKind_Name(a.kind()).c_str());
    v1::StageFinished fin;
    absl::Status st;
    try {
      st = CheckSpecComplete(a.spec());  // the worker defaults nothing itself
      if (st.ok() && a.kind() == v1::FINALIZE) {
        auto res = RunFinalizeAssignment(a, device);
        st = res.status();
        if (res.ok()) *fin.mutable_result() = *res;
      } else if (st.ok()) {
        st = RunBlockAp(&a, device, cache);
      }
    } catch (const AbortedByCoordinator&) {
      st = absl::AbortedError("aborted by the coordinator");
    } catch (const c10::Error& e) {
      st = absl::InternalError(e.what_without_backtrace());
    } catch (const std::exception& e) {
      st = absl::InternalError(e.what());
    }
    fin.set_worker_id(WorkerId());
    fin.set_assignment_id(a.assignment_id());
    fin.set_ok(st.ok());
    if (!st.ok()) {
      fin.set_error(std::string(st.message()));
      if (std::optional<int> b = CorruptBlockOf(st)) fin.set_corrupt_block(*b);
      fin.set_retryable(st.code() == absl::StatusCode::kResourceExhausted);
      fprintf(stderr, "eqat-worker: %s failed: %s\n", a.assignment_id().c_str(),
              std::string(st.message()).c_str());
    }
    // Heartbeats keep naming the assignment until its end is acknowledged,
    // so the coordinator does not hand it to another worker meanwhile.
    grpc::Status acked = SendReliably(&v1::Cluster::Stub::FinishStage, fin, "FinishStage");
    if (!acked.ok()) {
      fprintf(stderr, "eqat-worker: FinishStage for %s refused: %s\n", a.assignment_id().c_str(),
              acked.error_message().c_str());
    }
    if (acked.ok() && st.ok() && a.kind() == v1::FINALIZE) {
      // The job succeeded: its scratch folder is no longer needed.
      std::error_code ec;
      std::filesystem::remove_all(a.job_dir(), ec);
    }
    absl::MutexLock l(&mu);
    current.clear();
  }
};

WorkerDaemon::WorkerDaemon(WorkerDaemonOptions o) : impl_(new Impl) { impl_->o = std::move(o); }
WorkerDaemon::~WorkerDaemon() = default;
void WorkerDaemon::Stop() { impl_->stop = true; }

absl::Status WorkerDaemon::Run() {
  Impl& d = *impl_;
  if (d.o.coordinator.empty()) return absl::InvalidArgumentError("--coordinator: is required");
  ASSIGN_OR_RETURN(int64_t budget, ParseByteSize("--cache-budget", d.o.cache_budget));
  RETURN_IF_ERROR(ParseByteSize("--device-memory", d.o.device_memory).status());
  ActivationStoreOptions cache;
  cache.ram_budget_bytes = budget;
  cache.spill_dir = d.o.spill_dir;
  torch::Device device(torch::kCPU);
  if (d.o.device != "cpu") {
    if (!torch::cuda::is_available()) {
      return absl::InvalidArgumentError(absl::StrCat("--device: '", d.o.device, "' but no CUDA device"));
    }
    device = torch::Device(d.o.device);
  }
  TransportConfig tc;
  ASSIGN_OR_RETURN(tc.kind, ParseTransportKind(d.o.transport));
  tc.listen = d.o.listen;
  tc.cuda_device = device.is_cuda() ? std::max<int>(0, device.index()) : -1;
  ASSIGN_OR_RETURN(d.transport, WorkerTransport::Create(tc));
  fprintf(stderr, "eqat-worker: activation transport %s\n", d.transport->name().c_str());
  if (d.o.advertise.empty()) {
    std::string host = d.o.listen.substr(0, d.o.listen.rfind(':'));
    d.o.advertise = absl::StrCat(host, ":", d.transport->port());
  }
  d.steps = &prometheus::BuildCounter().Name("eqat_worker_steps_total").Help("Training steps run.").Register(*d.registry).Add({});
  d.step_seconds = &prometheus::BuildHistogram()
                        .Name("eqat_train_step_seconds")
                        .Help("Duration of one Block-AP training step.")
                        .Register(*d.registry)
                        .Add({}, ExponentialBuckets(0.001, 2, 16));
  d.transport_bytes = &prometheus::BuildCounter()
                           .Name("eqat_transport_bytes_total")
                           .Help("Activation bytes streamed by this worker.")
                           .Register(*d.registry);
  d.transport_wait = &prometheus::BuildCounter()
                          .Name("eqat_transport_wait_seconds_total")
                          .Help("Time spent receiving or sending activation streams.")
                          .Register(*d.registry)
                          .Add({});
  d.block_loss = &prometheus::BuildGauge().Name("eqat_block_loss").Help("Last block's Block-AP loss.").Register(*d.registry);
  d.tokens_per_second = &prometheus::BuildGauge()
                             .Name("eqat_tokens_per_second")
                             .Help("Block-AP training tokens per second.")
                             .Register(*d.registry)
                             .Add({});
  d.blocks_done = &prometheus::BuildCounter()
                       .Name("eqat_blocks_completed_total")
                       .Help("Blocks quantized by this worker.")
                       .Register(*d.registry)
                       .Add({});
  if (!d.o.metrics_listen.empty()) {
    auto ex = StartMetricsExposer(d.o.metrics_listen, {d.registry, d.process_metrics},
                                  {d.o.metrics_auth_file});
    if (!ex.ok()) {
      if (absl::StartsWith(ex.status().message(), "--metrics-auth-file")) return ex.status();
      return absl::Status(ex.status().code(), absl::StrCat("--metrics-listen: ", ex.status().message()));
    }
    d.exposer = std::move(*ex);
  }
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel, OpenChannel(d.o.coordinator, d.o.tls));
  d.stub = v1::Cluster::NewStub(channel);
  RETURN_IF_ERROR(d.Register());
  std::thread hb([&d] { d.HeartbeatLoop(); });
  while (!d.stop) {
    v1::PollRequest req;
    req.set_worker_id(d.WorkerId());
    req.set_wait_ms(5000);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::PollResponse resp;
    grpc::Status st = d.stub->PollAssignment(&ctx, req, &resp);
    if (!st.ok()) {
      if (st.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
        d.stop = true;
        hb.join();
        return absl::UnauthenticatedError(absl::StrCat("coordinator ", d.o.coordinator,
                                                       " refused this worker: ", st.error_message()));
      }
      if (st.error_code() == grpc::StatusCode::FAILED_PRECONDITION) d.Register().IgnoreError();
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    if (resp.has_assignment()) d.Execute(resp.assignment(), device, cache);
  }
  hb.join();
  return absl::OkStatus();
}

}  // namespace eqat
