#include "worker/transport/socket_io.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace eqat::socket_io {

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    reset();
    fd_ = o.release();
  }
  return *this;
}

void UniqueFd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

absl::StatusOr<HostPort> ParseHostPort(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("address '", address, "' is not host:port"));
  }
  HostPort hp;
  hp.host = address.substr(0, colon);
  hp.port = address.substr(colon + 1);
  if (hp.host.size() >= 2 && hp.host.front() == '[' && hp.host.back() == ']') {
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  }
  int port = -1;
  if (hp.host.empty() || hp.port.empty() || !absl::SimpleAtoi(hp.port, &port) || port < 0 ||
      port > 65535 || hp.port.find_first_not_of("0123456789") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("address '", address, "' is not host:port"));
  }
  return hp;
}

absl::Status ErrnoStatus(const std::string& what, int err) {
  const std::string msg = absl::StrCat(what, ": ", std::strerror(err));
  switch (err) {
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    case ETIMEDOUT:
      return absl::DeadlineExceededError(msg);
    case EINVAL:
    case EAFNOSUPPORT:
      return absl::InvalidArgumentError(msg);
    case ENOMEM:
    case ENOBUFS:
    case EMFILE:
    case ENFILE:
      return absl::ResourceExhaustedError(msg);
    default:  // refused, reset, broken pipe, unreachable, address in use...
      return absl::UnavailableError(msg);
  }
}

absl::Status SetNonBlocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL, 0);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
      ::fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
    return ErrnoStatus("fcntl", errno);
  }
  return absl::OkStatus();
}

absl::StatusOr<int> PollFds(pollfd* fds, size_t n, absl::Duration timeout) {
  const bool forever = timeout == absl::InfiniteDuration();
  const absl::Time deadline = forever ? absl::InfiniteFuture() : absl::Now() + timeout;
  while (true) {
    int ms = -1;
    if (!forever) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) {
        ms = 0;
      } else {
        ms = static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))),
                                                int64_t{1} << 30));
      }
    }
    const int rc = ::poll(fds, static_cast<nfds_t>(n), ms);
    if (rc > 0 || (rc == 0 && ms == 0)) return rc;
    if (rc < 0 && errno != EINTR) return ErrnoStatus("poll", errno);
  }
}

absl::StatusOr<short> WaitFd(int fd, short events, absl::Duration timeout) {
  pollfd p{fd, events, 0};
  absl::StatusOr<int> ready = PollFds(&p, 1, timeout);
  if (!ready.ok()) return ready.status();
  if (*ready == 0) return absl::DeadlineExceededError("socket timed out");
  return p.revents;
}

absl::Status CheckPeerOpen(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  int rc;
  do {
    rc = ::poll(&p, 1, 0);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return ErrnoStatus("poll", errno);
  if (rc > 0 && (p.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR))) {
    return absl::UnavailableError("the receiver closed the connection");
  }
  return absl::OkStatus();
}

absl::Status WriteFull(int fd, std::vector<iovec> iov, absl::Duration idle_timeout) {
  size_t first = 0;
  while (first < iov.size() && iov[first].iov_len == 0) ++first;
  while (first < iov.size()) {
    msghdr msg{};
    msg.msg_iov = iov.data() + first;
    msg.msg_iovlen = std::min<size_t>(iov.size() - first, IOV_MAX);
    const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return ErrnoStatus("send", errno);
      auto revents = WaitFd(fd, POLLOUT | POLLRDHUP, idle_timeout);
      if (!revents.ok()) {
        if (absl::IsDeadlineExceeded(revents.status())) {
          return absl::DeadlineExceededError(absl::StrCat(
              "receiver accepted no data for ", absl::FormatDuration(idle_timeout)));
        }
        return revents.status();
      }
      if (*revents & (POLLRDHUP | POLLHUP | POLLERR)) {
        return absl::UnavailableError("the receiver closed the connection");
      }
      continue;
    }
    size_t left = static_cast<size_t>(n);
    while (left > 0 && first < iov.size()) {
      const size_t take = std::min(left, iov[first].iov_len);
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + take;
      iov[first].iov_len -= take;
      left -= take;
      if (iov[first].iov_len == 0) ++first;
    }
    while (first < iov.size() && iov[first].iov_len == 0) ++first;
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> ReadAvailable(int fd, void* buf, size_t n, bool* eof) {
  *eof = false;
  char* p = static_cast<char*>(buf);
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::recv(fd, p + got, std::min<size_t>(n - got, size_t{1} << 30), MSG_DONTWAIT);
    if (r > 0) {
      got += static_cast<size_t>(r);
      continue;
    }
    if (r == 0) {
      *eof = true;
      return absl::UnavailableError("connection closed by the peer");
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    return ErrnoStatus("recv", errno);
  }
  return got;
}

absl::Status ReadFull(int fd, void* buf, size_t n, absl::Duration idle_timeout, bool* eof) {
  char* p = static_cast<char*>(buf);
  while (true) {
    absl::StatusOr<size_t> got = ReadAvailable(fd, p, n, eof);
    if (!got.ok()) return got.status();
    p += *got;
    n -= *got;
    if (n == 0) return absl::OkStatus();
    auto revents = WaitFd(fd, POLLIN, idle_timeout);
    if (!revents.ok()) return revents.status();
  }
}

}  // namespace eqat::socket_io
