// POSIX socket helpers for the TCP transport: address parsing, an owning fd,
// full reads/writes on non-blocking sockets with poll()-based timeouts that
// restart whenever bytes move, and the non-blocking pieces (poll over many
// fds, read what has arrived) a listener needs to serve several half-open
// connections at once. Internal to worker/transport.
// Thread-safety: stateless functions; a UniqueFd is owned by one object.
#ifndef EQAT_WORKER_TRANSPORT_SOCKET_IO_H_
#define EQAT_WORKER_TRANSPORT_SOCKET_IO_H_

#include <poll.h>
#include <sys/uio.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace eqat::socket_io {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset();

 private:
  int fd_ = -1;
};

struct HostPort {
  std::string host;  // without brackets
  std::string port;  // decimal, 0..65535
};
// "host:port" or "[v6]:port"; InvalidArgument otherwise (empty host too).
absl::StatusOr<HostPort> ParseHostPort(const std::string& address);

// Status for a failed call `what` with errno `err` (Unavailable for network
// failures, PermissionDenied, DeadlineExceeded for ETIMEDOUT, ...).
absl::Status ErrnoStatus(const std::string& what, int err);

// Makes `fd` non-blocking and close-on-exec.
absl::Status SetNonBlocking(int fd);

// Waits for `events` on `fd` up to `timeout` (InfiniteDuration: forever).
// Returns the revents; DeadlineExceeded on timeout.
absl::StatusOr<short> WaitFd(int fd, short events, absl::Duration timeout);

// poll() over `fds[0..n)`: waits up to `timeout` (InfiniteDuration: forever;
// <= 0: no wait) until one of them has one of its events, and sets every
// revents. Returns how many are ready, 0 when the timeout passed (not an
// error). Restarts after EINTR without extending the timeout.
absl::StatusOr<int> PollFds(pollfd* fds, size_t n, absl::Duration timeout);

// Reads up to `n` bytes that have already arrived, without waiting. Returns
// how many (0: none yet); Unavailable on reset or end of file (`*eof` set
// then), in which case bytes read by this call are not reported.
absl::StatusOr<size_t> ReadAvailable(int fd, void* buf, size_t n, bool* eof);

// Writes every byte of `iov` (modified). Fails with DeadlineExceeded when no
// byte could be written for `idle_timeout`, Unavailable when the peer closed
// or reset the connection (also detected while blocked).
absl::Status WriteFull(int fd, std::vector<iovec> iov, absl::Duration idle_timeout);

// Reads exactly `n` bytes. DeadlineExceeded when no byte arrived for
// `idle_timeout`; Unavailable on reset or end of file (`*eof` set then).
absl::Status ReadFull(int fd, void* buf, size_t n, absl::Duration idle_timeout, bool* eof);

// OK unless the peer has closed, reset, or sent unexpected bytes (a sender's
// peer never writes after the handshake). Does not block.
absl::Status CheckPeerOpen(int fd);

}  // namespace eqat::socket_io

#endif  // EQAT_WORKER_TRANSPORT_SOCKET_IO_H_
