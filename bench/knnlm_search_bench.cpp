// What one batched kNN-LM datastore search costs against a single one: the
// figure speculative kNN-LM's speed-up rests on (one search verifies a whole
// round of positions).
//
//   build/bin/knnlm_search_bench DATASTORE_DIR [--index FAISS_FOLDER --nprobe N] [--k 32]
//                                [--repeat 5] [--threads 1] [--json FILE]
//
// The keys searched are the datastore's own keys at consecutive positions of
// one passage plus a little noise, as a speculation round's keys are: the
// positions a model generates one after another. For each batch size the
// median over `--repeat` batches (at different passages) of the wall time,
// and its ratio to a batch of one.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "datastore_files.hpp"
#include "knnlm_policy.hpp"
#include "ralm/error.hpp"
#include "ralm/staging_directory.hpp"

namespace {

using namespace ralm;
namespace fs = std::filesystem;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Options {
  fs::path dir, index;
  std::int64_t nprobe = 32, k = 32, repeat = 5;
  int threads = 1;
  fs::path json;
};

Options parse(int argc, char** argv) {
  if (argc < 2)
    throw InputError(
        "usage: knnlm_search_bench DATASTORE_DIR [--index FAISS_FOLDER --nprobe N] "
        "[--k 32] [--repeat 5] [--threads 1] [--json FILE]");
  Options o;
  o.dir = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--index") {
      o.index = value;
    } else if (flag == "--nprobe") {
      o.nprobe = std::stoll(value);
    } else if (flag == "--k") {
      o.k = std::stoll(value);
    } else if (flag == "--repeat") {
      o.repeat = std::stoll(value);
    } else if (flag == "--threads") {
      o.threads = std::stoi(value);
    } else if (flag == "--json") {
      o.json = value;
    } else {
      throw InputError("knnlm_search_bench: unknown option " + flag);
    }
  }
  return o;
}

dense::Datastore open(const Options& o) {
  std::ifstream in(o.dir / "meta.json");
  if (!in) throw InputError((o.dir / "meta.json").string() + ": no datastore here");
  const auto meta = nlohmann::json::parse(in);
  dense::Datastore ds;
  ds.entries = meta.at("entries").get<std::int64_t>();
  ds.key_dim = meta.at("key_dim").get<std::int64_t>();
  ds.keys = std::make_unique<MappedFile>(o.dir / "keys.f32");
  ds.values = std::make_unique<MappedFile>(o.dir / "values.i32");
  ds.successors = std::make_unique<MappedFile>(o.dir / "successors.i64");
  if (!o.index.empty()) {
    ds.faiss = std::make_unique<dense::FaissIndex>(o.dir / o.index / "faiss.index");
    ds.faiss->set_search_parameters(o.nprobe, 0);
  }
  return ds;
}

}  // namespace

int main(int argc, char** argv) try {
  const Options o = parse(argc, argv);
  dense::KnnLmOptions ko;
  ko.k = o.k;
  ko.threads = o.threads;
  dense::KnnLmPolicy policy(nullptr, open(o), ko);
  const dense::Datastore& ds = policy.datastore();
  const auto dim = static_cast<std::size_t>(ds.key_dim);
  std::printf(
      "%s: %lld entries x %lld, %s, k %lld, %d thread(s)\n", o.dir.c_str(),
      static_cast<long long>(ds.entries), static_cast<long long>(ds.key_dim),
      o.index.empty() ? "exact scan" : (o.index.string() + " nprobe " + std::to_string(o.nprobe)).c_str(),
      static_cast<long long>(o.k), o.threads);

  std::mt19937_64 rng(42);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  // A batch: the keys of n consecutive positions from a random place.
  const auto batch = [&](std::int64_t n) {
    const std::int64_t start = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(ds.entries - n));
    std::vector<float> keys(ds.key_rows() + start * ds.key_dim, ds.key_rows() + (start + n) * ds.key_dim);
    for (float& x : keys)
      x += noise(rng);
    return keys;
  };
  policy.search(batch(1), o.k);  // page the keys in

  nlohmann::json rows = nlohmann::json::array();
  std::printf("%6s %12s %10s %12s\n", "BATCH", "ms/batch", "x batch 1", "ms/key");
  double single = 0;
  for (const std::int64_t n : {1, 2, 4, 8, 16}) {
    std::vector<double> ms;
    for (std::int64_t r = 0; r < o.repeat; ++r) {
      const std::vector<float> keys = batch(n);
      const auto t0 = std::chrono::steady_clock::now();
      const auto found = policy.search(keys, o.k);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      if (found.size() != static_cast<std::size_t>(n) || keys.size() != dim * static_cast<std::size_t>(n))
        throw Error("knnlm_search_bench: the search answered another batch");
    }
    const double m = median(ms);
    if (n == 1) single = m;
    std::printf("%6lld %12.2f %9.2fx %12.2f\n", static_cast<long long>(n), m, m / single,
                m / static_cast<double>(n));
    rows.push_back({{"batch", n}, {"ms", m}, {"ratio", m / single}});
  }
  if (!o.json.empty()) {
    const nlohmann::json out = {{"datastore", o.dir.string()}, {"index", o.index.string()},
                                {"nprobe", o.nprobe},          {"k", o.k},
                                {"threads", o.threads},        {"rows", rows}};
    write_file_atomically(o.json, [&](std::ostream& f) { f << out.dump(2) << "\n"; });
  }
  return 0;
} catch (const InputError& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 2;
} catch (const std::exception& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
