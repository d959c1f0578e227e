#include "faiss_index.hpp"

#include <dlfcn.h>
#include <faiss/IVFlib.h>
#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/clone_index.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <faiss/invlists/InvertedLists.h>
#include <omp.h>

#include <algorithm>
#include <mutex>
#include <new>
#include <stdexcept>
#include <typeinfo>

#include "ralm/error.hpp"
#include "ralm/log.hpp"
#include "ralm/progress.hpp"

namespace ralm::dense {

namespace {

faiss::MetricType faiss_metric(Metric m) {
  return m == Metric::l2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
}

// FAISS reports errors as FaissException with a long multi-line message:
// keep its first line.
std::string first_line(const std::string& s) {
  const auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

}  // namespace

void check_factory_string(const std::string& factory, std::int64_t dim, Metric metric) {
  try {
    std::unique_ptr<faiss::Index> probe(
        faiss::index_factory(static_cast<int>(dim), factory.c_str(), faiss_metric(metric)));
  } catch (const faiss::FaissException& e) {
    throw InputError("'" + factory + "' is not a FAISS index_factory string for " + std::to_string(dim) +
                     " dimensions (" + first_line(e.what()) +
                     "); e.g. Flat, IVF1024,Flat, HNSW32, IVF256,PQ32");
  }
}

void set_faiss_threads(int threads) {
  omp_set_num_threads(std::max(1, threads));
  static std::once_flag once;
  std::call_once(once, [threads] {
    using SetThreads = void (*)(int);
    // The BLAS FAISS was linked with is already loaded (Debian's libblas.so.3
    // is OpenBLAS by its alternatives); RTLD_NOLOAD only finds it.
    SetThreads set = nullptr;
    for (const char* name : {"libblas.so.3", "libopenblas.so.0"}) {
      void* blas = dlopen(name, RTLD_LAZY | RTLD_NOLOAD);
      const auto f = blas ? reinterpret_cast<SetThreads>(dlsym(blas, "openblas_set_num_threads")) : nullptr;
      if (f) {
        f(1);
        set = f;
      }
    }
    log_info("faiss: " + std::to_string(std::max(1, threads)) + " OpenMP threads; OpenBLAS " +
             (set ? "pinned to 1 thread" : "not found (another BLAS), left as it is"));
  });
}

std::unique_ptr<FaissIndex> FaissIndex::build(const std::filesystem::path& file, const std::string& factory,
                                              Metric metric, const float* vectors, std::int64_t n,
                                              std::int64_t dim, int threads, std::int64_t max_train) {
  set_faiss_threads(threads);
  try {
    std::unique_ptr<faiss::Index> index(
        faiss::index_factory(static_cast<int>(dim), factory.c_str(), faiss_metric(metric)));
    if (!index->is_trained) {
      if (max_train > 0 && max_train < n) {
        std::vector<float> sample(static_cast<std::size_t>(max_train * dim));
        for (std::int64_t i = 0; i < max_train; ++i)
          std::copy_n(vectors + (i * n / max_train) * dim, dim, sample.data() + i * dim);
        log_info("faiss: training " + factory + " on " + std::to_string(max_train) + " of the vectors");
        index->train(max_train, sample.data());
      } else {
        log_info("faiss: training " + factory + " on " + std::to_string(n) + " vectors");
        index->train(n, vectors);
      }
    }
    Progress progress("faiss: adding to " + factory, n, "vectors");
    constexpr std::int64_t kChunk = 16384;
    for (std::int64_t i = 0; i < n; i += kChunk) {
      const std::int64_t m = std::min(kChunk, n - i);
      if (auto* idmap = dynamic_cast<faiss::IndexIDMap*>(index.get())) {
        // "IDMap,..." wants ids given: the passage ids, which they are anyway.
        std::vector<faiss::Index::idx_t> ids(static_cast<std::size_t>(m));
        for (std::int64_t j = 0; j < m; ++j)
          ids[static_cast<std::size_t>(j)] = i + j;
        idmap->add_with_ids(m, vectors + i * dim, ids.data());
      } else {
        index->add(m, vectors + i * dim);
      }
      progress.advance(m);
    }
    progress.finish();
    if (!file.empty()) faiss::write_index(index.get(), file.c_str());
    return std::make_unique<FaissIndex>(std::move(index));
  } catch (const faiss::FaissException& e) {
    throw Error("faiss: building " + factory + ": " + first_line(e.what()));
  }
}

void FaissIndex::write_sharing_training(const std::filesystem::path& file, const float* rows,
                                        std::int64_t count, int threads) const {
  set_faiss_threads(threads);
  try {
    std::unique_ptr<faiss::Index> shard(faiss::clone_index(index_.get()));
    shard->reset();
    constexpr std::int64_t kChunk = 16384;
    for (std::int64_t i = 0; i < count; i += kChunk) {
      const std::int64_t m = std::min(kChunk, count - i);
      if (auto* idmap = dynamic_cast<faiss::IndexIDMap*>(shard.get())) {
        std::vector<faiss::Index::idx_t> ids(static_cast<std::size_t>(m));
        for (std::int64_t j = 0; j < m; ++j)
          ids[static_cast<std::size_t>(j)] = i + j;
        idmap->add_with_ids(m, rows + i * index_->d, ids.data());
      } else {
        shard->add(m, rows + i * index_->d);
      }
    }
    faiss::write_index(shard.get(), file.c_str());
  } catch (const faiss::FaissException& e) {
    throw Error("faiss: writing a shard of " + file.string() + ": " + first_line(e.what()));
  }
}

FaissIndex::FaissIndex(const std::filesystem::path& file) {
  const auto unreadable = [&](const std::string& why) {
    return InputError(file.string() + ": not a FAISS index this build can read (" + why +
                      "); rebuild it with `ralm index build PIPELINE --force`");
  };
  try {
    index_.reset(faiss::read_index(file.c_str()));
  } catch (const faiss::FaissException& e) {
    throw unreadable(first_line(e.what()));
  } catch (const std::bad_alloc&) {
    // A damaged size field: FAISS allocates what the file claims before it
    // can tell that the file is short.
    throw unreadable("a size in it is beyond memory");
  } catch (const std::length_error&) {
    throw unreadable("a size in it is beyond memory");
  }
}

FaissIndex::FaissIndex(std::unique_ptr<faiss::Index> index) : index_(std::move(index)) {}

FaissIndex::~FaissIndex() = default;

std::int64_t FaissIndex::size() const {
  return index_->ntotal;
}

std::int64_t FaissIndex::dim() const {
  return index_->d;
}

std::string FaissIndex::set_search_parameters(std::int64_t nprobe, std::int64_t ef_search) {
  std::string said;
  if (faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(index_.get())) {
    if (nprobe > 0)
      ivf->nprobe =
          static_cast<std::size_t>(std::min<std::int64_t>(nprobe, static_cast<std::int64_t>(ivf->nlist)));
    said += "nprobe=" + std::to_string(ivf->nprobe) + " of nlist=" + std::to_string(ivf->nlist);
  }
  if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(index_.get())) {
    if (ef_search > 0) hnsw->hnsw.efSearch = static_cast<int>(ef_search);
    said += (said.empty() ? "" : ", ") + std::string("efSearch=") + std::to_string(hnsw->hnsw.efSearch);
  }
  return said;
}

bool FaissIndex::exact_distances() const {
  const faiss::Index* index = index_.get();
  if (const auto* idmap = dynamic_cast<const faiss::IndexIDMap*>(index)) index = idmap->index;
  if (dynamic_cast<const faiss::IndexFlat*>(index) || dynamic_cast<const faiss::IndexIVFFlat*>(index))
    return true;
  if (const auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(index))
    return dynamic_cast<const faiss::IndexFlat*>(hnsw->storage) != nullptr;
  return false;
}

std::vector<std::int64_t> FaissIndex::search(const float* queries, std::int64_t nq, std::int64_t k,
                                             int threads) const {
  set_faiss_threads(threads);
  std::vector<float> distances(static_cast<std::size_t>(nq * k));
  std::vector<faiss::Index::idx_t> labels(static_cast<std::size_t>(nq * k));
  try {
    index_->search(nq, queries, k, distances.data(), labels.data());
  } catch (const faiss::FaissException& e) {
    throw Error("faiss: search: " + first_line(e.what()));
  }
  return {labels.begin(), labels.end()};
}

std::optional<FaissIndex::FlatLists> FaissIndex::flat_lists() const {
  const auto* ivf = dynamic_cast<const faiss::IndexIVFFlat*>(index_.get());
  const auto* quantizer = ivf ? dynamic_cast<const faiss::IndexFlat*>(ivf->quantizer) : nullptr;
  if (!quantizer || typeid(*ivf) != typeid(faiss::IndexIVFFlat) ||
      !dynamic_cast<const faiss::ArrayInvertedLists*>(ivf->invlists)) {
    return std::nullopt;
  }
  FlatLists lists;
  lists.nlist = static_cast<std::int64_t>(ivf->nlist);
  lists.centroids = quantizer->get_xb();
  for (std::size_t l = 0; l < ivf->nlist; ++l) {
    // Array lists (what read_index loads) hand out their own storage.
    lists.ids.push_back(ivf->invlists->get_ids(l));
    lists.vectors.push_back(reinterpret_cast<const float*>(ivf->invlists->get_codes(l)));
    lists.sizes.push_back(static_cast<std::int64_t>(ivf->invlists->list_size(l)));
  }
  return lists;
}

std::int64_t FaissIndex::nprobe() const {
  const faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(index_.get());
  return ivf ? static_cast<std::int64_t>(ivf->nprobe) : 0;
}

}  // namespace ralm::dense
