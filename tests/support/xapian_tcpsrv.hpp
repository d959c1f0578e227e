// A `xapian-tcpsrv` serving one shard database on 127.0.0.1, for the tests
// and the benchmark: started on a free port, ready once a client can open
// the shard, and stopped (with every process it forked for a connection, as
// a machine going down would) on destruction; paused, it stalls like a
// machine that hangs.
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

#include <xapian.h>

namespace ralm::test {

// A loopback port nothing listens on now (the kernel's choice for port 0).
inline unsigned free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// One `xapian-tcpsrv` serving a shard on 127.0.0.1, stopped on destruction.
class ShardServer {
 public:
  // `idle_timeout_ms`: how long the server keeps an idle connection (0: its
  // default, 60 s).
  explicit ShardServer(const std::filesystem::path& db, unsigned idle_timeout_ms = 0) : port_(free_port()) {
    pid_ = ::fork();
    if (pid_ > 0) ::setpgid(pid_, pid_);
    if (pid_ == 0) {
      // Its own process group: the server forks a process per connection,
      // and stop() ends them all, as a machine going down would.
      ::setpgid(0, 0);
      const std::string port = std::to_string(port_);
      // Its log (a line per connection) would drown the caller's output.
      ::freopen("/dev/null", "w", stdout);
      const std::string idle = std::to_string(idle_timeout_ms);
      if (idle_timeout_ms > 0) {
        ::execlp("xapian-tcpsrv", "xapian-tcpsrv", "--interface", "127.0.0.1", "--port", port.c_str(),
                 "--idle-timeout", idle.c_str(), db.c_str(), static_cast<char*>(nullptr));
      }
      ::execlp("xapian-tcpsrv", "xapian-tcpsrv", "--interface", "127.0.0.1", "--port", port.c_str(),
               db.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Ready when a client can open the shard (bounded: 10 s).
    for (int i = 0; i < 200; ++i) {
      try {
        (void)Xapian::Remote::open("127.0.0.1", port_, 1000, 200).get_doccount();
        return;
      } catch (const Xapian::Error&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    stop();
    throw std::runtime_error("xapian-tcpsrv on port " + std::to_string(port_) + " did not answer in 10 s");
  }
  ~ShardServer() { stop(); }
  ShardServer(const ShardServer&) = delete;
  ShardServer& operator=(const ShardServer&) = delete;

  unsigned port() const { return port_; }
  // Stops the server and its connections' processes without closing their
  // sockets, as a machine that hangs would: clients wait for their timeout.
  void pause() {
    if (pid_ > 0) ::kill(-pid_, SIGSTOP);
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  unsigned port_;
  pid_t pid_ = -1;
};

}  // namespace ralm::test
