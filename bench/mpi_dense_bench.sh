#!/usr/bin/env bash
# Dense search over 1-4 Open MPI shard ranks on this machine (loopback)
# against one process, for issue 21's table: one `mpirun` per shard count.
#   bench/mpi_dense_bench.sh [n=2000000] [dim=768] [queries=64] [rounds=3] [index=Flat] [nprobe=16]
# index Flat scans exactly; an IVF…,Flat string (e.g. IVF1024,Flat) gives
# every shard the one trained index with its rows only, searched at nprobe.
# Prints a table; the JSON lines go to mpi_dense_bench.jsonl.
set -euo pipefail
bin=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/bin/mpi_dense_bench
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,tcp \
  OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_hwloc_base_binding_policy=none
: > mpi_dense_bench.jsonl
for k in 1 2 3 4; do
  mpirun --oversubscribe -np $((k + 1)) "$bin" "$@" >> mpi_dense_bench.jsonl
done
jq -r '[.shards, .local.batch1_p50_ms, .sharded.batch1_p50_ms, .sharded.batch1_p99_ms,
        .local.batch8_p50_ms, .sharded.batch8_p50_ms, .sharded.batch8_p99_ms,
        .sharded_time_split.slowest_shard_ms_per_exchange, .sharded_time_split.network_ms_per_exchange,
        .scan_kernels + " " + .index + (if .nprobe > 0 then " nprobe " + (.nprobe | tostring) else "" end)] | @tsv' \
  mpi_dense_bench.jsonl |
  awk -F'\t' 'BEGIN { printf "%-7s %-26s %-26s %-22s %s\n", "SHARDS", "batch 1 p50 (p99) ms", "batch 8 p50 (p99) ms",
                      "mean ms: shard | network", "kernels, index";
               printf "%-7s %-26s %-26s\n", "", "local | sharded", "local | sharded" }
       { printf "%-7s %7.2f | %7.2f (%7.2f)  %7.2f | %7.2f (%7.2f)  %7.3f | %7.3f        %s\n",
                $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }'
