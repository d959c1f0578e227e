// DelayProxy (delay_proxy.hpp) as a command, for the shell benchmarks: a
// proxy on 127.0.0.1 in front of each upstream port, every byte delayed by
// DELAY_US each way; prints the proxies' ports, one a line in the order
// given, then serves until SIGTERM or SIGINT.
//   build/bin/delay_proxy DELAY_US UPSTREAM_PORT...
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "delay_proxy.hpp"

int main(int argc, char** argv) try {
  if (argc < 3) {
    std::cerr << "usage: delay_proxy DELAY_US UPSTREAM_PORT...\n";
    return 2;
  }
  // Blocked before the proxies' threads start, so that only sigwait sees them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  const std::chrono::microseconds delay(std::stol(argv[1]));
  std::vector<std::unique_ptr<ralm::bench::DelayProxy>> proxies;
  for (int i = 2; i < argc; ++i) {
    proxies.push_back(
        std::make_unique<ralm::bench::DelayProxy>(static_cast<unsigned>(std::stoul(argv[i])), delay));
    std::printf("%u\n", proxies.back()->port());
  }
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stop, &signal);
  return 0;
} catch (const std::exception& e) {
  std::cerr << "delay_proxy: " << e.what() << "\n";
  return 2;
}
