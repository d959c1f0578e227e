// The Unicode questions Hugging Face tokenizers asks of a character, answered
// as Rust's char methods and the unicode_categories crate answer them (the
// tokenizers crate uses both), and the normal forms, from utf8proc.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ralm::hf {

// One code point of valid UTF-8 at `pos`, advancing `pos` past it.
char32_t next_code_point(std::string_view text, std::size_t& pos);
void append_utf8(std::string& out, char32_t c);
std::size_t utf8_length(char32_t c);
// Byte offset of the first invalid sequence, or npos when `text` is valid.
std::size_t invalid_utf8_at(std::string_view text);
// Rust's String::from_utf8_lossy: each maximal invalid subpart becomes U+FFFD.
std::string utf8_lossy(std::string_view bytes);

bool is_whitespace(char32_t c);         // Rust char::is_whitespace (White_Space)
bool is_alphabetic_word(char32_t c);    // Rust regex's \w
bool is_numeric(char32_t c);            // Rust char::is_numeric (N*)
bool is_letter(char32_t c);             // L*
bool is_punctuation(char32_t c);        // unicode_categories is_punctuation (P*)
bool is_ascii_punctuation(char32_t c);  // Rust char::is_ascii_punctuation
bool is_mark_nonspacing(char32_t c);    // Mn
bool is_other(char32_t c);              // unicode_categories is_other as it behaves: Cc, Cf, Co, Cs

enum class NormalForm { nfc, nfd, nfkc, nfkd };
std::string normalize(std::string_view text, NormalForm form);
// Rust's char::to_lowercase, character by character (no final-sigma rule).
std::string lowercase(std::string_view text);

}  // namespace ralm::hf
