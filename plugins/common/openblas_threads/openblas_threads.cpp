// OpenBLAS starts one thread per core as it loads (in its ELF constructor),
// and each spins on sched_yield for about 0.1 s before it sleeps: on 2 cores
// that took a core from the llama plugin's pool at every start of `ralm` (the
// quick start's first pipeline ran 2.5x slower for it). Nothing asks those
// threads for work: FAISS runs on OpenMP and pins OpenBLAS to one thread, and
// the trainer sets OpenBLAS's count itself (openblas_set_num_threads starts
// threads on demand). So each plugin that brings OpenBLAS in also links this
// library, which sets OPENBLAS_NUM_THREADS=1 before OpenBLAS's constructor
// reads it; a value the user set is left as it is.
//
// "Before" is what -z initfirst (CMakeLists.txt) buys: glibc's loader runs
// the constructor of an object marked DF_1_INITFIRST ahead of every other
// object a dlopen() brings in. The dependency order alone would not do it:
// glibc initialises a library's independent dependencies in reverse link
// order, and OpenBLAS may be a dependency of a dependency (the dense plugin
// reaches it through libblas.so.3).
#include <cstdlib>

namespace {

__attribute__((constructor)) void load_openblas_single_threaded() {
  ::setenv("OPENBLAS_NUM_THREADS", "1", /*overwrite=*/0);
}

}  // namespace
