// A TCP proxy on 127.0.0.1 that delays every byte by a fixed time each way,
// for the benchmarks: loopback's round trip is microseconds, a network's is
// not, and this machine has neither a LAN nor `tc`. One thread polls every
// connection; bytes read at time t are written on at t + delay, so a message
// in several segments is delayed once, as on a wire.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace ralm::bench {

class DelayProxy {
 public:
  // Forwards connections to 127.0.0.1:upstream, `delay` each way.
  DelayProxy(unsigned upstream, std::chrono::microseconds delay) : upstream_(upstream), delay_(delay) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = loopback(0);
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listener_, 64) != 0)
      throw std::runtime_error("delay proxy: cannot listen on 127.0.0.1");
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    if (::pipe(wake_) != 0) throw std::runtime_error("delay proxy: no pipe");
    thread_ = std::thread([this] { loop(); });
  }
  ~DelayProxy() {
    const char stop = 1;
    (void)!::write(wake_[1], &stop, 1);
    thread_.join();
    for (Link& l : links_)
      close_link(l);
    ::close(listener_);
    ::close(wake_[0]);
    ::close(wake_[1]);
  }
  DelayProxy(const DelayProxy&) = delete;
  DelayProxy& operator=(const DelayProxy&) = delete;

  unsigned port() const { return port_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Chunk {
    Clock::time_point due;
    std::string bytes;
  };
  struct Link {
    int fd[2];                    // client, server
    std::deque<Chunk> toward[2];  // bytes to write to fd[i]
  };

  static sockaddr_in loopback(unsigned port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    return a;
  }
  // Without it, Nagle's algorithm and delayed acknowledgements would add
  // tens of milliseconds to small messages (Xapian sets it on its own).
  static void no_delay(int fd) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  static void close_link(Link& l) {
    for (int& fd : l.fd) {
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
  }
  static void write_all(int fd, const std::string& bytes) {
    for (std::size_t done = 0; done < bytes.size();) {
      const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n <= 0) return;  // the peer went away: the read side closes the link
      done += static_cast<std::size_t>(n);
    }
  }

  void accept_one() {
    const int client = ::accept(listener_, nullptr, nullptr);
    if (client < 0) return;
    const int server = ::socket(AF_INET, SOCK_STREAM, 0);
    const sockaddr_in a = loopback(upstream_);
    if (server < 0 || ::connect(server, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
      ::close(client);
      if (server >= 0) ::close(server);
      return;
    }
    no_delay(client);
    no_delay(server);
    links_.push_back(Link{{client, server}, {}});
  }

  void loop() {
    std::vector<pollfd> fds;
    for (;;) {
      fds.assign({{wake_[0], POLLIN, 0}, {listener_, POLLIN, 0}});
      auto next = Clock::time_point::max();
      for (const Link& l : links_) {
        for (int side = 0; side < 2; ++side) {
          fds.push_back({l.fd[side], POLLIN, 0});
          if (!l.toward[side].empty()) next = std::min(next, l.toward[side].front().due);
        }
      }
      timespec wait{};
      timespec* timeout = nullptr;
      if (next != Clock::time_point::max()) {
        const auto ns = std::max<std::int64_t>(
            0, std::chrono::duration_cast<std::chrono::nanoseconds>(next - Clock::now()).count());
        wait.tv_sec = static_cast<time_t>(ns / 1000000000);
        wait.tv_nsec = static_cast<long>(ns % 1000000000);
        timeout = &wait;
      }
      ::ppoll(fds.data(), fds.size(), timeout, nullptr);
      if (fds[0].revents) return;
      if (fds[1].revents & POLLIN) accept_one();
      const auto now = Clock::now();
      char buffer[65536];
      for (std::size_t i = 0; i < links_.size(); ++i) {
        Link& l = links_[i];
        for (int side = 0; side < 2; ++side) {
          const std::size_t f = 2 + 2 * i + static_cast<std::size_t>(side);  // links accepted now come last
          if (l.fd[side] < 0 || f >= fds.size() || !(fds[f].revents & (POLLIN | POLLHUP | POLLERR))) continue;
          const ssize_t n = ::read(l.fd[side], buffer, sizeof buffer);
          if (n <= 0) {
            close_link(l);
            break;
          }
          l.toward[1 - side].push_back({now + delay_, std::string(buffer, static_cast<std::size_t>(n))});
        }
      }
      std::erase_if(links_, [](const Link& l) { return l.fd[0] < 0; });
      const auto after = Clock::now();
      for (Link& l : links_) {
        for (int side = 0; side < 2; ++side) {
          while (!l.toward[side].empty() && l.toward[side].front().due <= after) {
            write_all(l.fd[side], l.toward[side].front().bytes);
            l.toward[side].pop_front();
          }
        }
      }
    }
  }

  unsigned upstream_;
  std::chrono::microseconds delay_;
  int listener_ = -1;
  unsigned port_ = 0;
  int wake_[2] = {-1, -1};
  std::vector<Link> links_;  // the proxy thread's alone
  std::thread thread_;
};

}  // namespace ralm::bench
