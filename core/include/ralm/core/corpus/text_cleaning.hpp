// Turning source markup into plain text, and plain text into passages.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ralm::core {

// Whitespace-separated words of `text`.
std::vector<std::string_view> split_words(std::string_view text);

// FOLDOC's markup: {cross references} lose their braces, a leading
// <category> tag and a trailing (YYYY-MM-DD) revision date go, and runs of
// whitespace become one space.
std::string clean_foldoc(std::string_view body);

// GCIDE's markup (Debian's dict-gcide): pronunciations \Ap"ple\ and their
// respellings go, accented letters written [=a], ['e], [aum] keep their
// letter, source tags such as [1913 Webster] or [WordNet 1.5 +PJC] go,
// {cross references} lose their braces; whitespace as collapse_whitespace.
std::string clean_gcide(std::string_view body);

// The Brown corpus's tagged text "The/at jury/nn said/vbd ./." as plain
// text "The jury said.": each word loses its /TAG, ``quotes'' become ",
// and punctuation joins the word before it.
std::string strip_pos_tags(std::string_view tagged);

// Runs of whitespace become one space; leading and trailing space goes.
std::string collapse_whitespace(std::string_view text);

// Consecutive passages of at most `words` words each (the last may be
// shorter), each its words joined by single spaces. Empty text: none.
std::vector<std::string> split_passages(std::string_view text, std::size_t words);

}  // namespace ralm::core
