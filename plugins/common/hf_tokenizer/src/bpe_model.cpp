// HF's BPE model: merges applied lowest rank first through a priority queue
// (ties: leftmost), unknown characters as byte-fallback tokens or the unk
// token, and a cache of words already tokenised.
#include <mutex>
#include <queue>

#include "bpe_model.hpp"
#include "ralm/error.hpp"
#include "unicode.hpp"

namespace ralm::hf {
namespace {

std::uint64_t pair_key(TokenId a, TokenId b) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
}

struct Symbol {
  TokenId id;
  int prev, next;
  bool removed;
};

struct Merge {
  int pos;
  std::uint32_t rank;
  TokenId new_id;
  // The queue's top is the lowest rank, then the leftmost position.
  bool operator<(const Merge& other) const {
    return rank != other.rank ? rank > other.rank : pos > other.pos;
  }
};

// HF caches words shorter than this.
constexpr std::size_t kMaxCachedWordBytes = 256;
constexpr std::size_t kCacheCapacity = 10000;

}  // namespace

BpeModel::BpeModel(Vocabulary vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                   BpeOptions options, const JsonField& merges_field)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
  const std::size_t prefix =
      options_.continuing_subword_prefix ? options_.continuing_subword_prefix->size() : 0;
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    const auto a_id = vocab_.find(a), b_id = vocab_.find(b);
    const std::string joined = a + (b.size() >= prefix ? b.substr(prefix) : std::string());
    const auto new_id = vocab_.find(joined);
    if (!a_id || !b_id || !new_id) {
      merges_field.at(rank).fail("merges '" + a + "' and '" + b + "' into '" + joined +
                                 "', and not all three are in model.vocab");
    }
    merges_.insert_or_assign(pair_key(*a_id, *b_id), MergeRule{static_cast<std::uint32_t>(rank), *new_id});
  }
  if (options_.unk_token) unk_id_ = vocab_.find(*options_.unk_token);
  if (options_.byte_fallback) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) {
      const std::string name = std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">";
      byte_ids_[static_cast<std::size_t>(b)] = vocab_.find(name);
    }
  }
}

BpeModel::~BpeModel() = default;

std::string BpeModel::kind() const {
  if (options_.byte_fallback) return "BPE byte-fallback";
  return byte_level_ ? "BPE byte-level" : "BPE";
}

void BpeModel::tokenize(std::string_view word, Tokens& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (const auto id = vocab_.find(word)) {
      out.push_back(*id);
      return;
    }
  }
  const bool cacheable = word.size() < kMaxCachedWordBytes;
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    if (const auto it = cache_.find(word); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  Tokens ids = merge_word(word);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    if (cache_.size() < kCacheCapacity) cache_.emplace(std::string(word), std::move(ids));
  }
}

TokenId BpeModel::unk_id() const {
  if (!unk_id_)
    throw Error("the BPE model's unk_token '" + *options_.unk_token + "' is not in its vocabulary");
  return *unk_id_;
}

Tokens BpeModel::merge_word(std::string_view word) const {
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  std::optional<TokenId> pending_unk;
  const auto add = [&](TokenId id) {
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({id, index - 1, index + 1, false});
  };
  for (std::size_t pos = 0; pos < word.size();) {
    const std::size_t start = pos;
    next_code_point(word, pos);
    std::string piece(word.substr(start, pos - start));
    if (start > 0 && options_.continuing_subword_prefix) piece.insert(0, *options_.continuing_subword_prefix);
    if (pos == word.size() && options_.end_of_word_suffix) piece += *options_.end_of_word_suffix;
    if (const auto id = vocab_.find(piece)) {
      if (pending_unk) add(*std::exchange(pending_unk, std::nullopt));
      add(*id);
      continue;
    }
    if (options_.byte_fallback) {
      bool all = true;
      for (unsigned char b : piece)
        all = all && byte_ids_[b].has_value();
      if (all) {
        // HF adds the bytes without flushing an unknown run first.
        for (unsigned char b : piece)
          add(*byte_ids_[b]);
        continue;
      }
    }
    if (options_.unk_token) {
      if (pending_unk && !options_.fuse_unk) add(*pending_unk);
      if (!pending_unk || !options_.fuse_unk) pending_unk = unk_id();
    }
  }
  if (pending_unk) add(*pending_unk);
  if (symbols.empty()) return {};
  symbols.back().next = -1;

  std::priority_queue<Merge> queue;
  const auto rule = [&](TokenId a, TokenId b) -> const MergeRule* {
    const auto it = merges_.find(pair_key(a, b));
    return it == merges_.end() ? nullptr : &it->second;
  };
  for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
    if (const MergeRule* r = rule(symbols[i].id, symbols[i + 1].id))
      queue.push({static_cast<int>(i), r->rank, r->new_id});
  }
  while (!queue.empty()) {
    const Merge top = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<std::size_t>(top.pos)];
    if (left.removed || left.next == -1) continue;
    const Symbol right = symbols[static_cast<std::size_t>(left.next)];
    const MergeRule* current = rule(left.id, right.id);
    if (current == nullptr || current->new_id != top.new_id) continue;  // a stale entry
    left.id = top.new_id;
    symbols[static_cast<std::size_t>(left.next)].removed = true;
    left.next = right.next;
    if (right.next != -1) symbols[static_cast<std::size_t>(right.next)].prev = top.pos;
    if (left.prev >= 0) {
      if (const MergeRule* r = rule(symbols[static_cast<std::size_t>(left.prev)].id, left.id))
        queue.push({left.prev, r->rank, r->new_id});
    }
    if (left.next != -1) {
      if (const MergeRule* r = rule(left.id, symbols[static_cast<std::size_t>(left.next)].id))
        queue.push({top.pos, r->rank, r->new_id});
    }
  }
  Tokens ids;
  for (const Symbol& s : symbols) {
    if (!s.removed) ids.push_back(s.id);
  }
  return ids;
}

std::unique_ptr<Model> bpe_model_from_json(const JsonField& field) {
  if (!field.is_null_or_absent("dropout")) {
    const JsonField dropout = field.at("dropout");
    if (!dropout.value().is_number() || dropout.value().get<double>() != 0.0)
      dropout.fail("must be null: ralm tokenizes deterministically (BPE dropout is for training)");
  }
  BpeOptions options;
  options.unk_token = field.optional_string("unk_token");
  options.continuing_subword_prefix = field.optional_string("continuing_subword_prefix");
  options.end_of_word_suffix = field.optional_string("end_of_word_suffix");
  options.fuse_unk = field.boolean_or("fuse_unk", false);
  options.byte_fallback = field.boolean_or("byte_fallback", false);
  options.ignore_merges = field.boolean_or("ignore_merges", false);
  const JsonField merges_field = field.at("merges");
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(merges_field.size());
  for (std::size_t i = 0; i < merges_field.size(); ++i) {
    const JsonField m = merges_field.at(i);
    if (m.value().is_string()) {
      const std::string line = m.as_string();
      const auto space = line.find(' ');
      if (space == std::string::npos) m.fail("must be two tokens separated by a space");
      merges.emplace_back(line.substr(0, space), line.substr(space + 1));
    } else if (m.value().is_array() && m.value().size() == 2) {
      merges.emplace_back(m.at(std::size_t{0}).as_string(), m.at(std::size_t{1}).as_string());
    } else {
      m.fail("must be \"a b\" or [\"a\", \"b\"]");
    }
  }
  return std::make_unique<BpeModel>(Vocabulary::from_json(field.at("vocab")), merges, std::move(options),
                                    merges_field);
}

}  // namespace ralm::hf
