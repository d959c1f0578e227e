#include "ralm/core/sweep/sweep_journal.hpp"

#include <fstream>

#include "ralm/error.hpp"
#include "ralm/staging_directory.hpp"

namespace ralm::core {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The first key of `a` and `b` whose values differ, for the error.
std::string first_difference(const json& a, const json& b) {
  for (const auto& [key, value] : a.items()) {
    if (!b.contains(key) || b[key] != value) return key;
  }
  for (const auto& [key, value] : b.items()) {
    if (!a.contains(key)) return key;
  }
  return "";
}

JournalEntry entry_from(const json& j) {
  JournalEntry e;
  e.combination = j.at("combination").get<std::size_t>();
  e.repeat = j.at("repeat").get<int>();
  for (const auto& [name, value] : j.at("figures").items())
    e.figures[name] = value.get<double>();
  e.outputs = j.at("outputs").get<std::vector<std::string>>();
  return e;
}

}  // namespace

SweepJournal::SweepJournal(fs::path file, json identity)
    : file_(std::move(file)), identity_(std::move(identity)) {
  std::ifstream in(file_);
  if (!in) return;
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::string where = file_.string() + ":" + std::to_string(number);
    json j;
    try {
      j = json::parse(line);
      if (number == 1) {
        const json& written = j.at("sweep");
        if (written != identity_) {
          const std::string key = first_difference(written, identity_);
          throw InputError(where + ": this journal is of another sweep (its " + key + " was " +
                           (written.contains(key) ? written[key].dump() : "absent") + ", now " +
                           (identity_.contains(key) ? identity_[key].dump() : "absent") +
                           "); give another --out, or delete " + file_.string() + " to start over");
        }
        continue;
      }
      entries_.push_back(entry_from(j));
    } catch (const json::exception& e) {
      throw InputError(where + ": not a sweep journal line (" + e.what() + "); delete " + file_.string() +
                       " to start the sweep over");
    }
  }
}

bool SweepJournal::done(std::size_t combination, int repeat) const {
  for (const JournalEntry& e : entries_) {
    if (e.combination == combination && e.repeat == repeat) return true;
  }
  return false;
}

void SweepJournal::append(JournalEntry entry) {
  entries_.push_back(std::move(entry));
  write();
}

void SweepJournal::write() const {
  write_file_atomically(file_, [&](std::ostream& out) {
    out << json{{"sweep", identity_}}.dump() << "\n";
    for (const JournalEntry& e : entries_) {
      out << json{{"combination", e.combination},
                  {"repeat", e.repeat},
                  {"figures", e.figures},
                  {"outputs", e.outputs}}
                 .dump()
          << "\n";
    }
  });
}

}  // namespace ralm::core
