// The coordinator's gRPC services behind TLS, tokens and worker certificates
// (coordinator/service.h, coordinator/auth.h, common/rpc/credentials.h):
// every refused call gets the right code and changes nothing. The TLS
// material comes from deploy/make-certs.sh, as on a real cluster.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "common/file_util.h"
#include "common/rpc/credentials.h"
#include "coordinator/auth.h"
#include "coordinator/in_memory_job_store.h"
#include "coordinator/scheduler.h"
#include "coordinator/service.h"
#include "eqat/v1/cluster.grpc.pb.h"
#include "eqat/v1/quantization_service.grpc.pb.h"
#include "tests/coordinator/test_util.h"

namespace eqat::testing {
namespace {

constexpr char kRead[] = "read-token-0123456789";
constexpr char kAlice[] = "alice-token-0123456789";
constexpr char kBob[] = "bob-token-0123456789ab";
constexpr char kAdmin[] = "admin-token-0123456789";

void MakeCerts(const std::string& dir) {
  const std::string cmd = "bash '" + SourceDir() + "/deploy/make-certs.sh' '" + dir + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

class SecureServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tls_dir_ = tmp_.path() + "/tls";
    MakeCerts(tls_dir_);
    auto auth = TokenAuth::Parse(absl::StrCat(kRead, ",dash,read\n", kAlice, ",alice,submit\n",
                                              kBob, ",bob,submit\n", kAdmin, ",ops,admin\n"),
                                 "tokens");
    ASSERT_TRUE(auth.ok()) << auth.status();
    auth_ = std::make_unique<TokenAuth>(*std::move(auth));
    SchedulerOptions o;
    o.allowed_roots = {SourceDir(), tmp_.path()};
    sched_ = std::make_unique<Scheduler>(o, &store_, &registry_);
    api_ = std::make_unique<QuantizationServiceImpl>(sched_.get(), auth_.get());
    cluster_ = std::make_unique<ClusterServiceImpl>(sched_.get(), true);
    TlsConfig server;
    server.cert_file = tls_dir_ + "/coordinator.pem";
    server.key_file = tls_dir_ + "/coordinator.key";
    server.ca_file = tls_dir_ + "/ca.pem";
    auto creds = MakeServerCredentials(server);
    ASSERT_TRUE(creds.ok()) << creds.status();
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", *creds, &port_);
    b.RegisterService(api_.get());
    b.RegisterService(cluster_.get());
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
  }

  std::string Address() const { return absl::StrCat("127.0.0.1:", port_); }

  std::shared_ptr<grpc::Channel> Channel(bool client_cert, const std::string& dir = "") {
    const std::string d = dir.empty() ? tls_dir_ : dir;
    TlsConfig c;
    c.ca_file = tls_dir_ + "/ca.pem";
    if (client_cert) {
      c.cert_file = d + "/worker.pem";
      c.key_file = d + "/worker.key";
    }
    auto ch = OpenChannel(Address(), c);
    EXPECT_TRUE(ch.ok()) << ch.status();
    return *ch;
  }

  static void Prepare(grpc::ClientContext* ctx, const std::string& token) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  }

  grpc::Status Submit(const std::string& token, const std::string& out, v1::Job* job) {
    auto stub = v1::QuantizationService::NewStub(Channel(false));
    grpc::ClientContext ctx;
    Prepare(&ctx, token);
    v1::SubmitJobRequest req;
    *req.mutable_spec() = StoriesSpec(tmp_.path() + "/" + out);
    return stub->SubmitJob(&ctx, req, job);
  }
  grpc::Status Cancel(const std::string& token, const std::string& id, v1::Job* job) {
    auto stub = v1::QuantizationService::NewStub(Channel(false));
    grpc::ClientContext ctx;
    Prepare(&ctx, token);
    v1::CancelJobRequest req;
    req.set_id(id);
    return stub->CancelJob(&ctx, req, job);
  }
  int JobCount() {
    auto all = sched_->List(v1::ListJobsRequest());
    EXPECT_TRUE(all.ok());
    return all.ok() ? all->jobs_size() : -1;
  }
  v1::JobState StateOf(const std::string& id) {
    auto j = sched_->Get(id);
    EXPECT_TRUE(j.ok()) << j.status();
    return j.ok() ? j->state() : v1::JOB_STATE_UNSPECIFIED;
  }

  TempDir tmp_;
  std::string tls_dir_;
  InMemoryJobStore store_;
  prometheus::Registry registry_;
  std::unique_ptr<TokenAuth> auth_;
  std::unique_ptr<Scheduler> sched_;
  std::unique_ptr<QuantizationServiceImpl> api_;
  std::unique_ptr<ClusterServiceImpl> cluster_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

TEST_F(SecureServiceTest, CallsWithoutAValidTokenAreUnauthenticatedAndChangeNothing) {
  v1::Job job;
  for (const std::string& token : {std::string(), std::string("not-a-token-0123456789")}) {
    grpc::Status st = Submit(token, "out-none", &job);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << token;
    EXPECT_EQ(st.error_message(), "missing or invalid bearer token");
  }
  EXPECT_EQ(JobCount(), 0);
  auto stub = v1::QuantizationService::NewStub(Channel(false));
  grpc::ClientContext ctx;
  Prepare(&ctx, "");
  v1::ListJobsResponse list;
  EXPECT_EQ(stub->ListJobs(&ctx, v1::ListJobsRequest(), &list).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(SecureServiceTest, TheOwnerAndAnAdminMayCancelOthersMayNot) {
  v1::Job job;
  ASSERT_TRUE(Submit(kAlice, "out-alice", &job).ok());
  EXPECT_EQ(job.owner(), "alice");
  const std::string id = job.id();

  // A read-only token may look but not submit or cancel.
  grpc::Status st = Submit(kRead, "out-read", &job);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(st.error_message(), "permission denied");
  EXPECT_EQ(Cancel(kRead, id, &job).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  {
    auto stub = v1::QuantizationService::NewStub(Channel(false));
    grpc::ClientContext ctx;
    Prepare(&ctx, kRead);
    v1::GetJobRequest g;
    g.set_id(id);
    v1::Job seen;
    ASSERT_TRUE(stub->GetJob(&ctx, g, &seen).ok());
    EXPECT_EQ(seen.owner(), "alice");
  }
  // Another submitter may not cancel alice's job.
  st = Cancel(kBob, id, &job);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(st.error_message(), "permission denied");
  EXPECT_EQ(StateOf(id), v1::QUEUED);
  EXPECT_EQ(JobCount(), 1);

  ASSERT_TRUE(Cancel(kAlice, id, &job).ok());
  EXPECT_EQ(job.state(), v1::CANCELLED);

  v1::Job bobs;
  ASSERT_TRUE(Submit(kBob, "out-bob", &bobs).ok());
  ASSERT_TRUE(Cancel(kAdmin, bobs.id(), &job).ok());
  EXPECT_EQ(StateOf(bobs.id()), v1::CANCELLED);
}

TEST_F(SecureServiceTest, AWorkerWithoutAClusterCertificateIsRefusedEverywhere) {
  v1::Job job;
  ASSERT_TRUE(Submit(kAdmin, "out-w", &job).ok());
  auto stub = v1::Cluster::NewStub(Channel(/*client_cert=*/false));
  {
    grpc::ClientContext ctx;
    Prepare(&ctx, kAdmin);  // a token is no worker credential
    v1::RegisterRequest r;
    r.set_data_address("127.0.0.1:1");
    v1::RegisterResponse resp;
    grpc::Status st = stub->Register(&ctx, r, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_TRUE(resp.worker_id().empty());
  }
  {
    grpc::ClientContext ctx;
    Prepare(&ctx, "");
    v1::HeartbeatRequest h;
    h.set_worker_id("worker-1");
    v1::HeartbeatResponse resp;
    EXPECT_EQ(stub->Heartbeat(&ctx, h, &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    Prepare(&ctx, "");
    v1::PollRequest p;
    p.set_worker_id("worker-1");
    v1::PollResponse resp;
    EXPECT_EQ(stub->PollAssignment(&ctx, p, &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_FALSE(resp.has_assignment());
  }
  {
    grpc::ClientContext ctx;
    Prepare(&ctx, "");
    v1::StageFinished f;
    f.set_worker_id("worker-1");
    f.set_assignment_id(job.id() + "-final-0-1-00");
    v1::Ack ack;
    EXPECT_EQ(stub->FinishStage(&ctx, f, &ack).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_EQ(StateOf(job.id()), v1::QUEUED);
  EXPECT_TRUE(sched_->Get(job.id())->stages().empty());
}

TEST_F(SecureServiceTest, AWorkerWithACertificateOfTheClusterCaRegisters) {
  auto stub = v1::Cluster::NewStub(Channel(/*client_cert=*/true));
  grpc::ClientContext ctx;
  Prepare(&ctx, "");
  v1::RegisterRequest r;
  r.set_data_address("127.0.0.1:1");
  v1::RegisterResponse resp;
  grpc::Status st = stub->Register(&ctx, r, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_FALSE(resp.worker_id().empty());
}

TEST_F(SecureServiceTest, ACertificateOfAnotherCaDoesNotGetThroughTheHandshake) {
  const std::string other = tmp_.path() + "/other-ca";
  MakeCerts(other);
  auto stub = v1::Cluster::NewStub(Channel(/*client_cert=*/true, other));
  grpc::ClientContext ctx;
  Prepare(&ctx, "");
  v1::RegisterRequest r;
  r.set_data_address("127.0.0.1:1");
  v1::RegisterResponse resp;
  EXPECT_EQ(stub->Register(&ctx, r, &resp).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(resp.worker_id().empty());
}

TEST_F(SecureServiceTest, APlaintextClientCannotTalkToTheTlsServer) {
  TlsConfig plain;
  plain.insecure = true;
  auto ch = OpenChannel(Address(), plain);
  ASSERT_TRUE(ch.ok());
  auto stub = v1::QuantizationService::NewStub(*ch);
  grpc::ClientContext ctx;
  Prepare(&ctx, kAdmin);
  v1::SubmitJobRequest req;
  *req.mutable_spec() = StoriesSpec(tmp_.path() + "/out-plain");
  v1::Job job;
  EXPECT_EQ(stub->SubmitJob(&ctx, req, &job).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(JobCount(), 0);
}

TEST(CredentialsTest, MissingOrNonPemFilesNameTheFlag) {
  TempDir tmp;
  ASSERT_TRUE(WriteFileAtomic(tmp.path() + "/junk.pem", "not a certificate").ok());
  TlsConfig c;
  auto none = MakeServerCredentials(c);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(none.status().message().find("--tls-cert"), std::string::npos);
  c.cert_file = tmp.path() + "/junk.pem";
  c.key_file = tmp.path() + "/missing.key";
  auto missing = MakeServerCredentials(c);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("--tls-cert"), std::string::npos);
  EXPECT_NE(missing.status().message().find("not a PEM file"), std::string::npos);
  TlsConfig client;
  auto no_ca = OpenChannel("127.0.0.1:1", client);
  ASSERT_FALSE(no_ca.ok());
  EXPECT_NE(no_ca.status().message().find("--tls-ca"), std::string::npos);
  EXPECT_NE(no_ca.status().message().find("--insecure"), std::string::npos);
  client.ca_file = tmp.path() + "/junk.pem";
  client.cert_file = tmp.path() + "/junk.pem";
  auto half = OpenChannel("127.0.0.1:1", client);
  ASSERT_FALSE(half.ok());
}

}  // namespace
}  // namespace eqat::testing
