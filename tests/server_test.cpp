// The parts of `ralm serve` that need no socket: the request body's checks
// (each mistake a 400 naming its field), the text released as tokens come
// (whole UTF-8 characters, stop strings), the JSON and SSE shapes, and the
// Prometheus text. tests/serve_test.sh drives the server itself.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "byte_tokenizer.hpp"
#include "completion_json.hpp"
#include "completion_request.hpp"
#include "completion_text.hpp"
#include "metrics.hpp"

namespace {

using namespace ralm;
using namespace ralm::server;
using nlohmann::json;

using test::ByteTokenizer;

// ByteTokenizer, but a character cut short decodes to U+FFFD, as
// SentencePiece's byte fallback does.
class ReplacingTokenizer final : public Tokenizer {
 public:
  Tokens encode(std::string_view text, bool add_bos) const override { return bytes_.encode(text, add_bos); }
  std::string decode(std::span<const TokenId> ids) const override {
    std::string s = bytes_.decode(ids);
    const std::size_t cut = incomplete_utf8_tail(s);
    s.resize(s.size() - cut);
    for (std::size_t i = 0; i < cut; ++i)
      s += "\xEF\xBF\xBD";
    return s;
  }
  std::string piece(TokenId id) const override { return decode(std::span(&id, 1)); }
  std::int32_t vocab_size() const override { return bytes_.vocab_size(); }
  TokenId bos() const override { return bytes_.bos(); }
  TokenId eos() const override { return bytes_.eos(); }
  std::optional<TokenId> special(std::string_view name) const override { return bytes_.special(name); }

 private:
  ByteTokenizer bytes_;
};

CompletionLimits limits() {
  static const ByteTokenizer tokenizer;
  CompletionLimits l;
  l.model = "tiny";
  l.context_length = 64;
  l.reserved_tokens = 10;
  l.default_max_tokens = 8;
  l.count_prompt_tokens = [](const std::string& p) {
    return static_cast<std::int32_t>(tokenizer.encode(p, true).size());
  };
  return l;
}

// The request's BadRequest: its message must contain `expected`, and name `param`.
void expect_bad(const std::string& body, const std::string& param, const std::string& expected) {
  try {
    parse_completion_request(body, limits());
    ADD_FAILURE() << "accepted: " << body;
  } catch (const BadRequest& e) {
    EXPECT_EQ(e.param(), param) << e.what();
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
}

TEST(CompletionRequest, ReadsEveryField) {
  const CompletionRequest r = parse_completion_request(
      R"({"prompt": "hello", "max_tokens": 5, "temperature": 0.5, "top_p": 0.9, "seed": 7,
          "stop": ["\n", "."], "stream": true, "model": "tiny", "user": "someone"})",
      limits());
  EXPECT_EQ(r.prompt, "hello");
  EXPECT_EQ(r.prompt_tokens, 6);
  EXPECT_EQ(r.options.max_new_tokens, 5);
  ASSERT_TRUE(r.options.sampling);
  EXPECT_EQ(r.options.sampling->temperature, 0.5);
  EXPECT_EQ(r.options.sampling->top_p, 0.9);
  EXPECT_EQ(r.options.sampling->seed, 7u);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"\n", "."}));
  EXPECT_TRUE(r.stream);

  // Defaults: the engine's length and sampling; null is "not given".
  const CompletionRequest d =
      parse_completion_request(R"({"prompt": "hi", "stop": null, "seed": null})", limits());
  EXPECT_EQ(d.options.max_new_tokens, 8);
  EXPECT_FALSE(d.options.sampling);
  EXPECT_TRUE(d.stop.empty());
  EXPECT_FALSE(d.stream);
  EXPECT_EQ(parse_completion_request(R"({"prompt": "hi", "stop": "x"})", limits()).stop,
            std::vector<std::string>{"x"});
}

TEST(CompletionRequest, NamesTheFieldAndTheFix) {
  expect_bad(R"({"prompt": "hi",})", "", "malformed JSON (byte ");
  expect_bad(R"({"prompt": "hi",})", "", "line 1, column ");
  expect_bad(R"(["hi"])", "", "expected a JSON object");
  expect_bad(R"({"prompt": "hi", "max_token": 3})", "max_token", "did you mean 'max_tokens'");
  expect_bad(R"({"max_tokens": 3})", "prompt", "prompt: required");
  expect_bad(R"({"prompt": ""})", "prompt", "prompt: empty");
  expect_bad(R"({"prompt": ["a", "b"]})", "prompt", "expected a string");
  expect_bad(R"({"prompt": "hi", "max_tokens": "3"})", "max_tokens", "expected an integer >= 1");
  expect_bad(R"({"prompt": "hi", "max_tokens": 0})", "max_tokens", "got 0");
  expect_bad(R"({"prompt": "hi", "max_tokens": 2.5})", "max_tokens", "expected an integer");
  // The context holds 64 tokens; "hi" is 3 with BOS, and the engine keeps 10.
  expect_bad(R"({"prompt": "hi", "max_tokens": 55})", "max_tokens", "ask for at most 54");
  expect_bad(R"({"prompt": ")" + std::string(60, 'a') + R"(", "max_tokens": 4})", "max_tokens",
             "beside this 61-token prompt; ask for at most 3");
  expect_bad(R"({"prompt": ")" + std::string(70, 'a') + R"("})", "prompt", "shorten the prompt");
  expect_bad(R"({"prompt": "hi", "temperature": -1})", "temperature", "negative");
  expect_bad(R"({"prompt": "hi", "temperature": "hot"})", "temperature", "expected a number");
  expect_bad(R"({"prompt": "hi", "top_p": 0})", "top_p", "outside (0, 1]");
  expect_bad(R"({"prompt": "hi", "top_p": 1.5})", "top_p", "outside (0, 1]");
  expect_bad(R"({"prompt": "hi", "seed": -1})", "seed", "expected an integer >= 0");
  expect_bad(R"({"prompt": "hi", "stop": ["a", "b", "c", "d", "e"]})", "stop", "at most 4");
  expect_bad(R"({"prompt": "hi", "stop": [""]})", "stop", "empty string");
  expect_bad(R"({"prompt": "hi", "stop": 3})", "stop", "expected a string or an array");
  expect_bad(R"({"prompt": "hi", "stream": "yes"})", "stream", "expected true or false");
  expect_bad(R"({"prompt": "hi", "model": "other"})", "model", "serves \"tiny\"");
}

TEST(RetrieveRequest, ReadsQueryAndK) {
  const RetrieveRequest r = parse_retrieve_request(R"({"query": "compiler", "k": 3})", 1);
  EXPECT_EQ(r.query, "compiler");
  EXPECT_EQ(r.k, 3);
  EXPECT_EQ(parse_retrieve_request(R"({"query": "compiler"})", 2).k, 2);
  EXPECT_THROW(parse_retrieve_request(R"({"k": 3})", 1), BadRequest);
  EXPECT_THROW(parse_retrieve_request(R"({"query": "q", "k": 0})", 1), BadRequest);
  EXPECT_THROW(parse_retrieve_request(R"({"query": "q", "n": 1})", 1), BadRequest);
}

Tokens tokens_of(const std::string& text) {
  return ByteTokenizer().encode(text, false);
}

// The text released token by token, with what finish() adds.
std::vector<std::string> released(CompletionText& text, const std::string& output) {
  std::vector<std::string> parts;
  for (const TokenId t : tokens_of(output))
    parts.push_back(text.add(std::span(&t, 1)));
  parts.push_back(text.finish());
  return parts;
}

TEST(CompletionText, ReleasesWholeCharactersOnly) {
  EXPECT_EQ(incomplete_utf8_tail("ab"), 0u);
  EXPECT_EQ(incomplete_utf8_tail("a\xC3"), 1u);
  EXPECT_EQ(incomplete_utf8_tail("a\xC3\xA9"), 0u);
  EXPECT_EQ(incomplete_utf8_tail("\xE2\x82"), 2u);
  EXPECT_EQ(incomplete_utf8_tail("\xF0\x9F\x98"), 3u);
  EXPECT_EQ(incomplete_utf8_tail("\xF0\x9F\x98\x80"), 0u);
  EXPECT_EQ(incomplete_utf8_tail("\xFF"), 0u);      // no character starts so: invalid, not waiting
  EXPECT_EQ(incomplete_utf8_tail("\xE0\x80"), 0u);  // overlong: invalid already
  EXPECT_EQ(incomplete_utf8_tail("\xED\xA0"), 0u);  // a surrogate: invalid already
  EXPECT_EQ(incomplete_utf8_tail("\x80\x80\x80"), 0u);

  const ByteTokenizer bytes;
  const ReplacingTokenizer replacing;
  for (const Tokenizer* tokenizer :
       {static_cast<const Tokenizer*>(&bytes), static_cast<const Tokenizer*>(&replacing)}) {
    CompletionText text(*tokenizer, {});
    const std::vector<std::string> parts = released(text, "d\xC3\xA9j\xE2\x82\xAC!");
    EXPECT_EQ(parts, (std::vector<std::string>{"d", "", "\xC3\xA9", "j", "", "", "\xE2\x82\xAC", "!", ""}))
        << (tokenizer == &replacing ? "replacing" : "bytes");
    EXPECT_EQ(text.text(), "d\xC3\xA9j\xE2\x82\xAC!");
  }
  // A character still cut at the end is released as it is.
  const ByteTokenizer bytes_only;
  CompletionText cut(bytes_only, {});
  EXPECT_EQ(released(cut, "a\xE2\x82").back(), "\xE2\x82");
}

TEST(CompletionText, EndsBeforeAStopString) {
  const ByteTokenizer tokenizer;
  CompletionText text(tokenizer, {"END", "\n\n"});
  std::string shown;
  for (const std::string& part : released(text, "one ENtwo EN"))
    shown += part;
  EXPECT_FALSE(text.stopped());
  EXPECT_EQ(shown, "one ENtwo EN");  // a partial match is held, then released

  CompletionText stopped(tokenizer, {"END", "\n\n"});
  const std::vector<std::string> parts = released(stopped, "abc ENDxyz");
  EXPECT_TRUE(stopped.stopped());
  EXPECT_EQ(stopped.text(), "abc ");
  std::string joined;
  for (const std::string& part : parts)
    joined += part;
  EXPECT_EQ(joined, "abc ");
  // The earliest of two stop strings wins, and EOS is no text.
  CompletionText two(tokenizer, {"zz", "y"});
  Tokens t = tokens_of("xyzz");
  t.push_back(tokenizer.eos());
  EXPECT_EQ(two.add(t) + two.finish(), "x");
}

TEST(CompletionJson, HasTheDocumentedShape) {
  const CompletionIdentity who{"cmpl-1", 1765000000, "tiny"};
  core::RequestResult result;
  result.times.total = 0.5;
  result.tokens_computed = 9;
  CompletionEnd end{"length", 3, 4, ralm_json(result, json::array(), 0.25)};
  const json body = json::parse(core::dump_json(completion_body(who, "text", end)));
  EXPECT_EQ(body["id"], "cmpl-1");
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_EQ(body["choices"][0]["text"], "text");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(body["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(body["usage"]["total_tokens"], 7);
  EXPECT_EQ(body["ralm"]["times"]["queued"], 0.25);
  EXPECT_EQ(body["ralm"]["times"]["total"], 0.5);
  EXPECT_EQ(body["ralm"]["tokens_computed"], 9);
  EXPECT_EQ(body["ralm"]["speculation"]["rounds"], 0);

  const std::string event = stream_event(who, "a\xC3");
  ASSERT_EQ(event.rfind("data: ", 0), 0u);
  ASSERT_EQ(event.substr(event.size() - 2), "\n\n");
  const json chunk = json::parse(event.substr(6));
  EXPECT_TRUE(chunk["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(chunk["choices"][0]["text"], "a\xEF\xBF\xBD");  // invalid bytes become U+FFFD
  EXPECT_FALSE(chunk.contains("usage"));
  const std::string last = stream_end(who, end);
  EXPECT_EQ(last.substr(last.size() - 14), "data: [DONE]\n\n");

  const json error = error_body("max_tokens: too many", "invalid_request_error", "max_tokens");
  EXPECT_EQ(error["error"]["param"], "max_tokens");
  EXPECT_TRUE(error_body("body: malformed", "invalid_request_error")["error"]["param"].is_null());
}

TEST(Metrics, WritesPrometheusText) {
  ServerMetrics metrics;
  metrics.response(200);
  metrics.response(429);
  metrics.completion("length", 3, 4, 0.2, 0.01, 0.05);
  core::EngineStats engine;
  engine.finished = 1;
  engine.rejected = 1;
  const std::string text = metrics.render(engine);
  for (const std::string line :
       {"ralm_requests_total{outcome=\"finished\"} 1", "ralm_requests_total{outcome=\"rejected\"} 1",
        "ralm_http_responses_total{status=\"429\"} 1", "ralm_completions_total{finish_reason=\"length\"} 1",
        "ralm_completions_total{finish_reason=\"stop\"} 0", "ralm_completion_tokens_total 4",
        "ralm_request_duration_seconds_bucket{le=\"0.25\"} 1",
        "ralm_request_duration_seconds_bucket{le=\"0.1\"} 0",
        "ralm_request_duration_seconds_bucket{le=\"+Inf\"} 1", "ralm_request_duration_seconds_count 1",
        "# TYPE ralm_requests_queued gauge"})
    EXPECT_NE(text.find(line + "\n"), std::string::npos) << line << "\n" << text;
}

}  // namespace
