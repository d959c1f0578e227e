#!/usr/bin/env bash
# Installs the SDK from the build tree, builds sdk/examples/overlap_retriever
# out of tree against it with find_package(ralmkit), and loads the result
# through the installed `ralm`.
#   out_of_tree_plugin_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir=$1
source_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build_dir" --prefix "$work/prefix" > "$work/install.log"
generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
cmake -S "$source_dir/sdk/examples/overlap_retriever" -B "$work/example" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/configure.log" \
  || { cat "$work/configure.log"; fail "the example does not configure against the installed SDK"; }
cmake --build "$work/example" > "$work/build.log" || { cat "$work/build.log"; fail "the example does not build"; }

plugin="$work/example/libralm-overlap.so"
[[ -f $plugin ]] || fail "no $plugin"
symbols=$(nm -D --defined-only "$plugin" | awk '{print $NF}')
[[ $symbols == ralm_plugin_entry ]] || fail "the example exports more than its entry: $symbols"

ralm="$work/prefix/bin/ralm"
listing=$(env -u RALMKIT_PLUGIN_PATH "$ralm" plugins --plugin-path "$work/example")
grep -q "retriever  *overlap  *1.0.0" <<< "$listing" || fail "ralm plugins does not list overlap: $listing"
grep -q "os3" <<< "$listing" || fail "the installed ralm lost its bundled plugins: $listing"

cat > "$work/pipeline.yaml" <<'YAML'
retriever:
  plugin: overlap
  texts: ["the cat sat on the mat", "retrieval augmented language models", "a dog"]
policy:
  plugin: none
YAML
env -u RALMKIT_PLUGIN_PATH "$ralm" run "$work/pipeline.yaml" --dry-run --plugin-path "$work/example" \
  > "$work/run.log" || { cat "$work/run.log"; fail "the pipeline with the example plugin does not build"; }
grep -q "built 2 component(s)" "$work/run.log" || fail "unexpected run output: $(cat "$work/run.log")"

# The example's own parameter check reaches the user as a one-line input error.
printf 'retriever:\n  plugin: overlap\n' > "$work/empty.yaml"
set +e
env -u RALMKIT_PLUGIN_PATH "$ralm" run "$work/empty.yaml" --dry-run --plugin-path "$work/example" 2> "$work/err.log"
status=$?
set -e
[[ $status == 2 ]] || fail "expected exit 2 for a retriever without passages, got $status"
grep -q "retriever.texts: no passages" "$work/err.log" || fail "unexpected error: $(cat "$work/err.log")"
echo "out-of-tree plugin: built, exports only ralm_plugin_entry, loads through the installed ralm"
