// An abusive client for `ralm serve`, run by tests/serve_abuse_test.sh from
// its own process over loopback. It first asks each prompt alone (the solo
// outputs), then W workers send N requests each, drawn from a seeded mix:
// good completions (whole or streamed), malformed JSON, wrong types,
// oversized bodies, slow clients that trickle their request byte by byte,
// clients that leave mid-stream, and bursts of simultaneous requests past
// the queue. Prints one JSON object of counts; exits nonzero when a good
// request's text differs from its solo run, a bad one is not answered with
// a 4xx and a JSON error, or the server stops answering.
//
//   serve_abuse HOST PORT PROMPTS_FILE [--workers 4] [--requests 250] [--seed 1] [--max-body BYTES]
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using nlohmann::json;

struct Target {
  std::string host;
  int port = 0;
};

// Counts by outcome, and the failures worth printing.
struct Tally {
  std::mutex m;
  std::map<std::string, std::int64_t> counts;
  std::vector<std::string> failures;
  void add(const std::string& what) {
    std::lock_guard lock(m);
    ++counts[what];
  }
  void fail(const std::string& why) {
    std::lock_guard lock(m);
    ++counts["failures"];
    if (failures.size() < 20) failures.push_back(why);
  }
};

std::string completion_body(const std::string& prompt, bool stream) {
  return json{{"prompt", prompt}, {"stream", stream}}.dump();
}

// The text of a stream's events joined, or nullopt when it did not end well.
std::optional<std::string> stream_text(const std::string& body) {
  std::string text;
  bool done = false;
  std::size_t at = 0;
  while (at < body.size()) {
    const std::size_t end = body.find("\n\n", at);
    const std::string event = body.substr(at, end == std::string::npos ? std::string::npos : end - at);
    at = end == std::string::npos ? body.size() : end + 2;
    if (event.rfind("data: ", 0) != 0) continue;
    const std::string data = event.substr(6);
    if (data == "[DONE]") {
      done = true;
      continue;
    }
    const json j = json::parse(data, nullptr, false);
    if (j.is_discarded() || j.contains("error")) return std::nullopt;
    text += j["choices"][0]["text"].get<std::string>();
  }
  if (!done) return std::nullopt;
  return text;
}

// A raw connection for what a well-behaved client never does.
int connect_to(const Target& t) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(t.port));
  ::inet_pton(AF_INET, t.host.c_str(), &a.sin_addr);
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string http_post(const std::string& body) {
  return "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

// Sends `request` a few bytes at a time with pauses, then reads the answer's
// status line: a slow client must still be served (or refused cleanly).
int trickle(const Target& t, const std::string& request, std::mt19937& rng) {
  const int fd = connect_to(t);
  if (fd < 0) return -1;
  std::uniform_int_distribution<int> piece(1, 8), pause_us(200, 3000);
  for (std::size_t at = 0; at < request.size();) {
    const std::size_t n = std::min(request.size() - at, static_cast<std::size_t>(piece(rng)));
    if (::send(fd, request.data() + at, n, MSG_NOSIGNAL) <= 0) break;
    at += n;
    std::this_thread::sleep_for(std::chrono::microseconds(pause_us(rng)));
  }
  char head[64] = {};
  const ssize_t got = ::recv(fd, head, sizeof head - 1, 0);
  ::close(fd);
  if (got < 12) return -1;
  return std::atoi(head + 9);  // "HTTP/1.1 200"
}

// Starts a streamed completion, reads a little of it, and leaves.
bool leave_mid_stream(const Target& t, const std::string& prompt) {
  const int fd = connect_to(t);
  if (fd < 0) return false;
  const std::string request = http_post(completion_body(prompt, true));
  const bool sent =
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size());
  char some[256];
  const bool read = sent && ::recv(fd, some, sizeof some, 0) > 0;
  ::close(fd);
  return read;
}

struct Options {
  Target target;
  std::string prompts_file;
  int workers = 4;
  int requests = 250;
  unsigned seed = 1;
  std::size_t max_body = 4096;
};

class Abuser {
 public:
  Abuser(Options o, std::vector<std::string> prompts, std::map<std::string, std::string> solo)
      : o_(std::move(o)), prompts_(std::move(prompts)), solo_(std::move(solo)) {}

  void run(int worker) {
    std::mt19937 rng(o_.seed * 7919 + static_cast<unsigned>(worker));
    httplib::Client client(o_.target.host, o_.target.port);
    client.set_read_timeout(30, 0);
    std::uniform_int_distribution<int> kind(0, 99);
    std::uniform_int_distribution<std::size_t> which(0, prompts_.size() - 1);
    for (int i = 0; i < o_.requests; ++i) {
      const std::string& prompt = prompts_[which(rng)];
      const int k = kind(rng);
      if (k < 30) {
        good(client, prompt, false);
      } else if (k < 45) {
        good(client, prompt, true);
      } else if (k < 55) {
        bad(client, "{\"prompt\": \"unterminated", "malformed JSON");
      } else if (k < 65) {
        bad(client, "{\"prompt\": 42, \"max_tokens\": \"many\"}", "wrong types");
      } else if (k < 70) {
        bad(client, "{\"prompt\": \"" + std::string(o_.max_body + 100, 'x') + "\"}", "oversized body");
      } else if (k < 75) {
        const int status = trickle(o_.target, http_post(completion_body(prompt, false)), rng);
        tally_.add("slow clients");
        if (status != 200 && status != 429) tally_.fail("a slow client got status " + std::to_string(status));
      } else if (k < 85) {
        tally_.add(leave_mid_stream(o_.target, prompt) ? "left mid-stream" : "left before any byte");
      } else {
        burst(prompt);
      }
    }
  }

  Tally& tally() { return tally_; }

 private:
  void good(httplib::Client& client, const std::string& prompt, bool stream) {
    const auto r = client.Post("/v1/completions", completion_body(prompt, stream), "application/json");
    if (!r) return tally_.fail("no answer to a good request: " + httplib::to_string(r.error()));
    if (r->status == 429) return tally_.add("429 (queue full)");
    if (r->status != 200)
      return tally_.fail("a good request got " + std::to_string(r->status) + ": " + r->body);
    std::optional<std::string> text;
    if (stream) {
      text = stream_text(r->body);
    } else {
      const json j = json::parse(r->body, nullptr, false);
      if (!j.is_discarded()) text = j["choices"][0]["text"].get<std::string>();
    }
    if (!text) return tally_.fail("a good request's answer did not parse");
    if (*text != solo_.at(prompt))
      return tally_.fail("a good request's text differs from its solo run: " + prompt);
    tally_.add(stream ? "good, streamed" : "good, whole");
  }

  void bad(httplib::Client& client, const std::string& body, const std::string& what) {
    const auto r = client.Post("/v1/completions", body, "application/json");
    if (!r) return tally_.fail("no answer to " + what);
    const json j = json::parse(r->body, nullptr, false);
    if (r->status < 400 || r->status >= 500 || j.is_discarded() || !j.contains("error"))
      return tally_.fail(what + " got " + std::to_string(r->status) + ": " + r->body.substr(0, 200));
    tally_.add(what + " (" + std::to_string(r->status) + ")");
  }

  // Sixteen requests at once, each on its own connection.
  void burst(const std::string& prompt) {
    std::vector<std::thread> threads;
    for (int b = 0; b < 16; ++b) {
      threads.emplace_back([&] {
        httplib::Client client(o_.target.host, o_.target.port);
        client.set_read_timeout(30, 0);
        good(client, prompt, false);
      });
    }
    for (auto& t : threads)
      t.join();
    tally_.add("bursts of 16");
  }

  Options o_;
  std::vector<std::string> prompts_;
  std::map<std::string, std::string> solo_;
  Tally tally_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: serve_abuse HOST PORT PROMPTS_FILE [--workers N] [--requests N] [--seed N] "
                 "[--max-body BYTES]\n";
    return 2;
  }
  Options o;
  o.target = {argv[1], std::atoi(argv[2])};
  o.prompts_file = argv[3];
  for (int i = 4; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const long v = std::atol(argv[i + 1]);
    if (a == "--workers") o.workers = static_cast<int>(v);
    if (a == "--requests") o.requests = static_cast<int>(v);
    if (a == "--seed") o.seed = static_cast<unsigned>(v);
    if (a == "--max-body") o.max_body = static_cast<std::size_t>(v);
  }
  std::vector<std::string> prompts;
  {
    std::ifstream in(o.prompts_file);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) prompts.push_back(line);
  }
  if (prompts.empty()) {
    std::cerr << "serve_abuse: " << o.prompts_file << ": no prompts (one per line)\n";
    return 2;
  }
  // Each prompt alone first: what every good request must get back.
  std::map<std::string, std::string> solo;
  httplib::Client client(o.target.host, o.target.port);
  client.set_read_timeout(30, 0);
  for (const auto& p : prompts) {
    const auto r = client.Post("/v1/completions", completion_body(p, false), "application/json");
    if (!r || r->status != 200) {
      std::cerr << "serve_abuse: the solo run of '" << p << "' failed\n";
      return 1;
    }
    solo[p] = json::parse(r->body)["choices"][0]["text"].get<std::string>();
  }
  Abuser abuser(o, prompts, solo);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < o.workers; ++w)
    workers.emplace_back([&, w] { abuser.run(w); });
  for (auto& w : workers)
    w.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Still answering after all of it.
  const auto health = client.Get("/health");
  if (!health || health->status != 200) abuser.tally().fail("the server stopped answering /health");
  json out = abuser.tally().counts;
  out["seconds"] = seconds;
  out["failure_examples"] = abuser.tally().failures;
  std::cout << out.dump() << "\n";
  return abuser.tally().counts.count("failures") ? 1 : 0;
}
