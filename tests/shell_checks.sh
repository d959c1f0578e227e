# The shell tests' checks, sourced by each: `check NAME COMMAND...` runs
# COMMAND, counts its success and names its failure, so that a test goes on
# past a failed check and reports every one; it ends with
#   echo "$passed passed, $failed failed"; ((failed == 0))
passed=0
failed=0
check() { # check NAME CONDITION-COMMAND...
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $name" >&2
  fi
}
