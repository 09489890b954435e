// Test helper: one blocking HTTP/1.0 GET to 127.0.0.1:port (5 s receive
// timeout), read until the server closes. status is 0 when no HTTP answer came.
#ifndef EQAT_TESTS_COMMON_HTTP_GET_H_
#define EQAT_TESTS_COMMON_HTTP_GET_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace eqat::testing {

struct HttpResponse {
  int status = 0;
  std::string headers;  // status line and headers, without the blank line
  std::string body;
};

// `headers`: extra request header lines, each ending in \r\n.
inline HttpResponse HttpGet(int port, const std::string& path, const std::string& headers = "") {
  HttpResponse resp;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return resp;
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return resp;
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n" + headers + "\r\n";
  send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string raw;
  char buf[4096];
  for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) raw.append(buf, n);
  close(fd);
  size_t sep = raw.find("\r\n\r\n");
  if (sep == std::string::npos || raw.compare(0, 5, "HTTP/") != 0) return resp;
  resp.headers = raw.substr(0, sep);
  resp.body = raw.substr(sep + 4);
  resp.status = std::atoi(raw.c_str() + raw.find(' ') + 1);
  return resp;
}

}  // namespace eqat::testing

#endif  // EQAT_TESTS_COMMON_HTTP_GET_H_
