# Helpers for tests/*.test suites. Sourced, never run.
# Each case prints exactly one PASS/FAIL/SKIP line for tests/run to count.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$top/build
suite=$(basename "$0" .test)

pass() { echo "PASS: $suite: $1"; }
fail() { echo "FAIL: $suite: $1: $2"; }

# A FAIL line must stay one line, whatever the output it quotes.
one_line() { if [ $# -gt 0 ]; then printf '%s' "$1"; else cat; fi | tr '\n' ' '; }

# testing NAME COMMAND EXPECTED: run COMMAND in a shell, compare its
# combined output to EXPECTED.
testing() {
	local name=$1 cmd=$2 want=$3 got
	got=$(bash -c "$cmd" 2>&1)
	if [ "$got" = "$want" ]; then
		pass "$name"
	else
		fail "$name" "expected '$(one_line "$want")', got '$(echo "$got" | tail -n 3 | one_line)'"
	fi
}

# expect_error NAME STATUS PATTERN COMMAND...: the command must exit with
# STATUS (or any non-zero status for "nonzero") and print exactly one error
# line matching PATTERN on stderr.
expect_error() {
	local name=$1 want=$2 pattern=$3 err rc
	shift 3
	err=$("$@" 2>&1 >/dev/null)
	rc=$?
	if [ "$want" = nonzero ] && [ $rc -eq 0 ] || [ "$want" != nonzero ] && [ $rc -ne "$want" ]; then
		fail "$name" "exit status $rc, expected $want; stderr: $(echo "$err" | tail -n 2 | tr '\n' ' ')"
	elif ! grep -qE -e "$pattern" <<<"$err"; then
		fail "$name" "stderr lacks /$pattern/: $(echo "$err" | tail -n 2 | tr '\n' ' ')"
	elif [ "$(grep -c 'error' <<<"$err")" -ne 1 ]; then
		fail "$name" "expected one error line, got: $(echo "$err" | tr '\n' ' ')"
	else
		pass "$name"
	fi
}

# json FILE EXPR: print a Python expression over the JSON document j in
# FILE (the boot profiler's reports).
json() {
	python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
