// A completion's text as its tokens become final: what may be shown now, and
// where a stop string ends it.
//
// Text is released only when it is certain: never the first bytes of a UTF-8
// character whose other bytes a later token brings (a split character would
// show as U+FFFD in each JSON event), nor a U+FFFD that may yet decode to a
// character, nor the start of a stop string that the next tokens may
// complete. A stop string ends the text before it.
// Each call decodes every token so far, so that a tokenizer that joins pieces
// (SentencePiece's leading spaces) gives the text a single decode gives:
// linear in the completion's length, bounded by the context.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ralm/model.hpp"

namespace ralm::server {

class CompletionText {
 public:
  // `stop`: strings that end the completion (none empty).
  CompletionText(const Tokenizer& tokenizer, std::vector<std::string> stop);

  // Adds final tokens (EOS is no text) and returns the text they made
  // certain, which may be empty. Nothing more after a stop string.
  std::string add(std::span<const TokenId> tokens);
  // At the request's end: the text held back, which no token can change now.
  std::string finish();

  bool stopped() const { return stopped_; }              // a stop string came
  const std::string& text() const { return released_; }  // all released so far

 private:
  // Releases the decoded text up to `end`, or up to a stop string in it.
  std::string release(const std::string& decoded, std::size_t end);

  const Tokenizer& tokenizer_;
  std::vector<std::string> stop_;
  std::vector<TokenId> tokens_;
  std::string released_;
  bool stopped_ = false;
};

// The number of bytes at the end of `text` that begin a UTF-8 character
// without completing it (0 to 3): a lead byte and the continuation bytes that
// may follow it, with the second-byte ranges UTF-8 allows (no overlong forms,
// no surrogates, nothing past U+10FFFF), so that exactly the bytes a strict
// decoder would still wait on are held back.
std::size_t incomplete_utf8_tail(std::string_view text);

// The bytes of the U+FFFD characters that end `text`: a tokenizer that
// decodes a character's first bytes alone to U+FFFD (SentencePiece's byte
// fallback) decodes them to the character once its last byte comes.
std::size_t replacement_tail(std::string_view text);

// The length of the longest end of `text` that begins one of `stop` without
// being all of it: text that must wait for the next token.
std::size_t partial_stop_tail(std::string_view text, const std::vector<std::string>& stop);

}  // namespace ralm::server
