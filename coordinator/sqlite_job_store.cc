#include "coordinator/sqlite_job_store.h"

#include <sqlite3.h>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/status_macros.h"

namespace eqat {
namespace {

// Finalizes a statement on scope exit.
struct Stmt {
  sqlite3_stmt* s = nullptr;
  ~Stmt() {
    if (s != nullptr) sqlite3_finalize(s);
  }
};

absl::Status SqlError(sqlite3* db, const char* what) {
  return absl::InternalError(absl::StrCat("job store: ", what, ": ", sqlite3_errmsg(db)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteJobStore>> SqliteJobStore::Open(const std::string& state_dir) {
  RETURN_IF_ERROR(MakeDirs(state_dir));
  std::unique_ptr<SqliteJobStore> s(new SqliteJobStore());
  std::string path = JoinPath(state_dir, "jobs.db");
  absl::MutexLock l(&s->mu_);
  if (sqlite3_open(path.c_str(), &s->db_) != SQLITE_OK) {
    return absl::PermissionDeniedError(absl::StrCat("state-dir: cannot open ", path));
  }
  sqlite3_busy_timeout(s->db_, 5000);
  for (const char* sql : {
           "PRAGMA journal_mode=WAL",
           "PRAGMA synchronous=NORMAL",
           "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, seq INTEGER, job BLOB NOT NULL)",
           "CREATE TABLE IF NOT EXISTS blocks (job_id TEXT NOT NULL, block INTEGER NOT NULL, "
           "report BLOB NOT NULL, PRIMARY KEY (job_id, block))",
       }) {
    char* err = nullptr;
    if (sqlite3_exec(s->db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "?";
      sqlite3_free(err);
      return absl::InternalError(absl::StrCat("job store: ", msg));
    }
  }
  return s;
}

SqliteJobStore::~SqliteJobStore() {
  absl::MutexLock l(&mu_);
  if (db_ != nullptr) sqlite3_close(db_);
}

absl::Status SqliteJobStore::PutJob(const v1::Job& job) {
  absl::MutexLock l(&mu_);
  std::string blob = job.SerializeAsString();
  Stmt st;
  const char* sql =
      "INSERT INTO jobs (id, seq, job) VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs), ?2) "
      "ON CONFLICT(id) DO UPDATE SET job = excluded.job";
  if (sqlite3_prepare_v2(db_, sql, -1, &st.s, nullptr) != SQLITE_OK) return SqlError(db_, "prepare");
  sqlite3_bind_text(st.s, 1, job.id().c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_blob(st.s, 2, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
  if (sqlite3_step(st.s) != SQLITE_DONE) return SqlError(db_, "put job");
  return absl::OkStatus();
}

absl::StatusOr<v1::Job> SqliteJobStore::GetJob(const std::string& id) {
  absl::MutexLock l(&mu_);
  Stmt st;
  if (sqlite3_prepare_v2(db_, "SELECT job FROM jobs WHERE id = ?1", -1, &st.s, nullptr) != SQLITE_OK) {
    return SqlError(db_, "prepare");
  }
  sqlite3_bind_text(st.s, 1, id.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st.s) != SQLITE_ROW) return absl::NotFoundError(absl::StrCat("job ", id));
  v1::Job job;
  job.ParseFromArray(sqlite3_column_blob(st.s, 0), sqlite3_column_bytes(st.s, 0));
  return job;
}

absl::StatusOr<std::vector<v1::Job>> SqliteJobStore::ListJobs() {
  absl::MutexLock l(&mu_);
  Stmt st;
  if (sqlite3_prepare_v2(db_, "SELECT job FROM jobs ORDER BY seq", -1, &st.s, nullptr) != SQLITE_OK) {
    return SqlError(db_, "prepare");
  }
  std::vector<v1::Job> out;
  while (sqlite3_step(st.s) == SQLITE_ROW) {
    v1::Job job;
    job.ParseFromArray(sqlite3_column_blob(st.s, 0), sqlite3_column_bytes(st.s, 0));
    out.push_back(std::move(job));
  }
  return out;
}

absl::Status SqliteJobStore::PutBlock(const std::string& job_id, const v1::BlockReport& block) {
  absl::MutexLock l(&mu_);
  std::string blob = block.SerializeAsString();
  Stmt st;
  const char* sql = "INSERT OR REPLACE INTO blocks (job_id, block, report) VALUES (?1, ?2, ?3)";
  if (sqlite3_prepare_v2(db_, sql, -1, &st.s, nullptr) != SQLITE_OK) return SqlError(db_, "prepare");
  sqlite3_bind_text(st.s, 1, job_id.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(st.s, 2, block.block());
  sqlite3_bind_blob(st.s, 3, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
  if (sqlite3_step(st.s) != SQLITE_DONE) return SqlError(db_, "put block");
  return absl::OkStatus();
}

absl::Status SqliteJobStore::DeleteBlocks(const std::string& job_id, int first, int last) {
  absl::MutexLock l(&mu_);
  Stmt st;
  const char* sql = "DELETE FROM blocks WHERE job_id = ?1 AND block >= ?2 AND block < ?3";
  if (sqlite3_prepare_v2(db_, sql, -1, &st.s, nullptr) != SQLITE_OK) return SqlError(db_, "prepare");
  sqlite3_bind_text(st.s, 1, job_id.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(st.s, 2, first);
  sqlite3_bind_int(st.s, 3, last);
  if (sqlite3_step(st.s) != SQLITE_DONE) return SqlError(db_, "delete blocks");
  return absl::OkStatus();
}

absl::StatusOr<std::map<int, v1::BlockReport>> SqliteJobStore::GetBlocks(const std::string& job_id) {
  absl::MutexLock l(&mu_);
  Stmt st;
  if (sqlite3_prepare_v2(db_, "SELECT report FROM blocks WHERE job_id = ?1", -1, &st.s, nullptr) !=
      SQLITE_OK) {
    return SqlError(db_, "prepare");
  }
  sqlite3_bind_text(st.s, 1, job_id.c_str(), -1, SQLITE_TRANSIENT);
  std::map<int, v1::BlockReport> out;
  while (sqlite3_step(st.s) == SQLITE_ROW) {
    v1::BlockReport b;
    b.ParseFromArray(sqlite3_column_blob(st.s, 0), sqlite3_column_bytes(st.s, 0));
    out[b.block()] = b;
  }
  return out;
}

}  // namespace eqat
