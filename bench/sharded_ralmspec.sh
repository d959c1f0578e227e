#!/usr/bin/env bash
# RaLMSpec (OS3, prefetch, asynchronous verification) against its baseline,
# In-Context RALM with exact dense retrieval over 2,000,000 vectors (the
# default corpus and filler, pipelines/ralmspec/), with the vectors on 1
# (one process) to 4 Open MPI shard ranks on this machine (issue 21).
#   bench/sharded_ralmspec.sh [LIMIT=3] [MAX_SHARDS=4]
# Prints each run's table and, per shard count, the speed-up beside the
# baseline's Amdahl bound (total / (total - retrieval)).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
limit=${1:-3}
max_shards=${2:-4}
P=$root/pipelines/ralmspec
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,tcp \
  OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_hwloc_base_binding_policy=none
"$root/build/bin/ralm" index build "$P/dense-baseline.yaml" > /dev/null
settings=(--set engine.threads=1 --set retriever.threads=1 --set retriever.filler_vectors=1981598
  --limit "$limit")
summary=""
for k in $(seq 1 "$max_shards"); do
  launch=()
  ((k > 1)) && launch=(mpirun --oversubscribe -np $((k + 1)))
  # Each shard rank serves its own file set, which `index build --shards` cuts.
  ((k > 1)) && "$root/build/bin/ralm" index build "$P/dense-baseline.yaml" --shards "$k" > /dev/null
  out=$("${launch[@]}" "$root/build/bin/ralm" compare "$P/dense-baseline.yaml" "$P/dense-spec-psa.yaml" \
    "${settings[@]}" --set retriever.shards="$k")
  echo "== $k shard(s)"
  echo "$out"
  summary+=$(awk -v k="$k" '$1 == "dense-baseline" { wall = $4; ret = $5 }
    $1 == "dense-spec-psa" { printf "%d\t%.3f\t%.3f\t%.1f%%\t%.2fx\t%s\t%s\t%s\n", k, wall, ret, 100 * ret / wall,
                             wall / (wall - ret), $14, $15, $17 }' <<< "$out")$'\n'
done
printf '\nSHARDS\tBASE WALL s\tRETRIEVAL s\tSHARE\tAMDAHL\tACCEPTED\tSPEED-UP\tIDENTICAL\n%s' "$summary"
