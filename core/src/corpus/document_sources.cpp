#include "ralm/core/corpus/document_sources.hpp"

#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ralm/core/corpus/text_cleaning.hpp"
#include "ralm/core/suggest.hpp"
#include "ralm/error.hpp"

namespace ralm::core {

namespace fs = std::filesystem;

namespace {

const std::map<std::string, std::string> kDebianDictionaries = {
    {"foldoc", "/usr/share/dictd/foldoc"},  // Debian package dict-foldoc
    {"jargon", "/usr/share/dictd/jargon"},  // Debian package dict-jargon
};

std::string gunzip_file(const fs::path& file) {
  gzFile gz = gzopen(file.c_str(), "rb");
  if (!gz) throw InputError(file.string() + ": cannot open; is the dictionary's Debian package installed?");
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(gz, buf, sizeof buf)) > 0)
    out.append(buf, static_cast<std::size_t>(n));
  const bool failed = n < 0;
  gzclose(gz);
  if (failed) throw InputError(file.string() + ": not a readable gzip/dictzip file");
  return out;
}

// dictd's index numbers are base64 digits, most significant first.
std::uint64_t decode_b64_number(std::string_view s, const std::string& where) {
  static const std::string digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::uint64_t n = 0;
  for (char c : s) {
    const auto d = digits.find(c);
    if (d == std::string::npos) throw InputError(where + ": bad base64 number '" + std::string(s) + "'");
    n = n * 64 + d;
  }
  return n;
}

void read_dictd(const SourceSpec& source, bool skip_bad, const std::function<void(Document&&)>& emit,
                CorpusSource& stats) {
  const fs::path index = source.path + ".index";
  const std::string data = gunzip_file(source.path + ".dict.dz");
  std::ifstream in(index);
  if (!in) throw InputError(index.string() + ": cannot open; is the dictionary's Debian package installed?");
  // Several headwords (synonyms) may share one definition: keep the first.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> seen;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    const std::string where = index.string() + ":" + std::to_string(line_no);
    if (line.rfind("00-database", 0) == 0 || line.rfind("00database", 0) == 0) continue;
    const auto t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
    try {
      if (t1 == std::string::npos || t2 == std::string::npos) {
        throw InputError(where + ": expected headword<TAB>offset<TAB>length");
      }
      const auto offset = decode_b64_number(std::string_view(line).substr(t1 + 1, t2 - t1 - 1), where);
      const auto length = decode_b64_number(std::string_view(line).substr(t2 + 1), where);
      if (offset + length > data.size())
        throw InputError(where + ": entry points past the end of the dictionary");
      if (std::find(seen.begin(), seen.end(), std::make_pair(offset, length)) != seen.end()) continue;
      seen.emplace_back(offset, length);
      const std::string_view entry(data.data() + offset, length);
      // An entry's first line is its headword as written; the body follows.
      const auto newline = entry.find('\n');
      Document doc;
      doc.title = collapse_whitespace(entry.substr(0, newline));
      const std::string_view body = newline == std::string_view::npos ? "" : entry.substr(newline + 1);
      doc.text = source.kind == "foldoc" ? clean_foldoc(body) : collapse_whitespace(body);
      if (doc.text.empty()) continue;
      emit(std::move(doc));
    } catch (const InputError&) {
      if (!skip_bad) throw;
      ++stats.skipped;
    }
  }
}

// Reads a text file line by line, passing each non-empty line to `parse`;
// a malformed line is fatal, or skipped and counted under --skip-bad.
void read_lines(const SourceSpec& source, bool skip_bad, CorpusSource& stats,
                const std::function<void(const std::string&, const std::string&)>& parse) {
  std::ifstream in(source.path);
  if (!in) throw InputError(source.path + ": cannot open; check the path after `" + source.kind + ":`");
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const std::string where = source.path + ":" + std::to_string(line_no);
    try {
      parse(line, where);
    } catch (const InputError& e) {
      if (!skip_bad)
        throw InputError(std::string(e.what()) + "; fix the line or pass --skip-bad to skip such lines");
      ++stats.skipped;
    }
  }
}

void read_jsonl(const SourceSpec& source, bool skip_bad, const std::function<void(Document&&)>& emit,
                CorpusSource& stats) {
  read_lines(source, skip_bad, stats, [&](const std::string& line, const std::string& where) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw InputError(where + ": malformed JSONL line: " + std::string(e.what()).substr(0, 160));
    }
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string()) {
      throw InputError(where +
                       ": a JSONL line needs a string \"text\" field ({\"id\", \"title\", \"text\"})");
    }
    if (j.contains("title") && !j["title"].is_string())
      throw InputError(where + ": \"title\" must be a string");
    emit({j.value("title", ""), collapse_whitespace(j["text"].get<std::string>())});
  });
}

void read_tsv(const SourceSpec& source, bool skip_bad, const std::function<void(Document&&)>& emit,
              CorpusSource& stats) {
  bool first = true;
  read_lines(source, skip_bad, stats, [&](const std::string& line, const std::string& where) {
    const bool header = first && line == "id\ttext\ttitle";  // DPR's files start with this header
    first = false;
    if (header) return;
    std::vector<std::string> fields;
    std::stringstream s(line);
    for (std::string f; std::getline(s, f, '\t');)
      fields.push_back(f);
    if (fields.size() != 3) {
      throw InputError(where + ": expected 3 tab-separated fields (id, text, title), found " +
                       std::to_string(fields.size()));
    }
    std::string text = fields[1];
    // DPR quotes texts that contain quotes, doubling the inner ones.
    if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
      text = text.substr(1, text.size() - 2);
      for (std::size_t p = 0; (p = text.find("\"\"", p)) != std::string::npos; ++p)
        text.erase(p, 1);
    }
    emit({fields[2], collapse_whitespace(text)});
  });
}

}  // namespace

const std::vector<std::string>& source_kinds() {
  static const std::vector<std::string> kinds = {"foldoc", "jargon", "dictd", "jsonl", "tsv"};
  return kinds;
}

SourceSpec parse_source(const std::string& text) {
  const auto colon = text.find(':');
  SourceSpec s{text.substr(0, colon), colon == std::string::npos ? "" : text.substr(colon + 1)};
  const auto& kinds = source_kinds();
  if (std::find(kinds.begin(), kinds.end(), s.kind) == kinds.end()) {
    throw InputError("--source " + text + ": unknown source '" + s.kind + "'" + did_you_mean(s.kind, kinds) +
                     "; the sources are foldoc, jargon, dictd:PATH, jsonl:FILE and tsv:FILE");
  }
  if (const auto it = kDebianDictionaries.find(s.kind); it != kDebianDictionaries.end() && s.path.empty()) {
    s.path = it->second;
  }
  if (s.path.empty())
    throw InputError("--source " + text + ": give a path, e.g. --source " + s.kind + ":FILE");
  return s;
}

void read_documents(const SourceSpec& source, bool skip_bad, const std::function<void(Document&&)>& emit,
                    CorpusSource& stats) {
  stats.kind = source.kind;
  stats.path = source.path;
  if (source.kind == "jsonl") return read_jsonl(source, skip_bad, emit, stats);
  if (source.kind == "tsv") return read_tsv(source, skip_bad, emit, stats);
  return read_dictd(source, skip_bad, emit, stats);
}

}  // namespace ralm::core
