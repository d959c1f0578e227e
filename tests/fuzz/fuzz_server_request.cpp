// `ralm serve`'s request bodies (core/server/completion_request.cpp): the
// input's first byte picks POST /v1/completions or POST /v1/retrieve, the
// rest is the body. BadRequest (answered 400) and our errors are refusals;
// anything else is a finding.
#include "completion_request.hpp"

#include <algorithm>

#include "bad_request.hpp"
#include "fuzz_support.hpp"

namespace {

ralm::server::CompletionLimits limits() {
  ralm::server::CompletionLimits l;
  l.model = "tiny";
  l.context_length = 256;
  l.reserved_tokens = 40;
  l.default_max_tokens = 16;
  // A byte tokenizer's count, beginning-of-sequence token included.
  l.count_prompt_tokens = [](const std::string& prompt) {
    return static_cast<std::int32_t>(prompt.size()) + 1;
  };
  return l;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const ralm::server::CompletionLimits completion_limits = limits();
  const std::string_view body = ralm::fuzz::text_of(data + 1, size - 1);
  return ralm::fuzz::expect_only_our_errors([&] {
    try {
      if (data[0] % 2 == 0) {
        const auto request = ralm::server::parse_completion_request(body, completion_limits);
        // What the engine relies on, once a body is accepted.
        const std::int32_t room = completion_limits.context_length -
                                  std::max(request.prompt_tokens, completion_limits.reserved_tokens);
        if (request.max_tokens <= 0 || request.max_tokens > room || request.prompt.empty()) __builtin_trap();
        for (const std::string& stop : request.stop)
          if (stop.empty()) __builtin_trap();
      } else {
        const auto request = ralm::server::parse_retrieve_request(body, 3);
        if (request.k < 1) __builtin_trap();
      }
    } catch (const ralm::server::BadRequest&) {
    }
  });
}
