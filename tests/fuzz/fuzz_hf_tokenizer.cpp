// Hugging Face tokenizer.json (plugins/common/hf_tokenizer): the input is the
// file, optionally followed by a line `#text` and a text; a file that parses
// encodes the text with and without special tokens and decodes the ids back.
#include "fuzz_support.hpp"
#include "ralm/hf_tokenizer/hf_tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = ralm::fuzz::text_of(data, size);
  constexpr std::string_view kSeparator = "\n#text\n";
  const auto at = input.find(kSeparator);
  const std::string_view json = input.substr(0, at);
  const std::string_view text = at == std::string_view::npos ? std::string_view("Hello, world! 12345 ")
                                                             : input.substr(at + kSeparator.size());
  return ralm::fuzz::expect_only_our_errors([&] {
    const auto tokenizer = ralm::hf::parse_tokenizer_json(json, "tokenizer.json");
    for (const bool special : {false, true}) {
      const ralm::Tokens ids = tokenizer->encode(text, special);
      for (const ralm::TokenId id : ids)
        if (id < 0) __builtin_trap();
      (void)tokenizer->decode(ids);
    }
  });
}
