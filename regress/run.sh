#!/bin/sh
#
# run.sh: every test, as "make regress" runs it.
#
# usage: [B=build] sh regress/run.sh [case ...]
#        [FUZZ_SECONDS=600] sh regress/run.sh --fuzz   (make fuzz)
#
# Runs, from the top of the source tree and with the programs in $B
# (build, or build/san for SANITIZE=1):
#	1. every unit program in $B/unit/;
#	2. every libFuzzer target in build/fuzz/, if any were built, for
#	   $FUZZ_SECONDS (10) seconds each, from its seed corpus
#	   regress/fuzz/corpus/NAME/ into a scratch corpus; a crash is
#	   kept as build/fuzz/NAME-crash-*;
#	3. every end-to-end case regress/e2e/*.sh (see regress/lib.sh).
# With arguments, only the end-to-end cases named (01-demo or
# regress/e2e/01-demo.sh).
#
# Each check prints one line as it runs: "PASS what", "FAIL what: why"
# or "SKIP what: why".  A program that exits non-zero without saying
# FAIL counts as one failure, and so does one that runs out of time
# (CASE_TIMEOUT, 300 s for a case).  The last line is the count:
# "N passed, N failed" and ", N skipped" when some were.  The exit
# status is 1 when anything failed.

set -u

cd "$(dirname "$0")/.." || exit 1
B=${B:-build}
export B
FUZZ_SECONDS=${FUZZ_SECONDS:-10}
CASE_TIMEOUT=${CASE_TIMEOUT:-300}

npass=0
nfail=0
nskip=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/eps-regress.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run LABEL TIMEOUT CMD...: run CMD, show its output as it comes, and
# count its PASS, FAIL and SKIP lines.
run()
{
	r_label=$1
	r_to=$2
	shift 2
	{
		timeout -k 10 "$r_to" "$@" </dev/null 2>&1
		echo $? >"$tmp/rc"
	} | tee "$tmp/out"
	r_rc=$(cat "$tmp/rc")
	r_pass=$(grep -c '^PASS ' "$tmp/out")
	r_fail=$(grep -c '^FAIL ' "$tmp/out")
	r_skip=$(grep -c '^SKIP ' "$tmp/out")
	if [ "$r_rc" -eq 124 ] || [ "$r_rc" -eq 137 ]; then
		echo "FAIL $r_label: timed out after $r_to s"
		r_fail=$((r_fail + 1))
	elif [ "$r_rc" -ne 0 ] && [ "$r_fail" -eq 0 ]; then
		echo "FAIL $r_label: exited with status $r_rc"
		r_fail=$((r_fail + 1))
	fi
	npass=$((npass + r_pass))
	nfail=$((nfail + r_fail))
	nskip=$((nskip + r_skip))
}

# fuzz TARGET: run one libFuzzer target briefly; one PASS or FAIL line.
fuzz()
{
	fz_name=${1##*/}
	fz_seed=
	for fz_d in "regress/fuzz/corpus/${fz_name#fuzz_}" \
	    "regress/fuzz/corpus/$fz_name"; do
		[ -d "$fz_d" ] && fz_seed=$fz_d && break
	done
	mkdir -p "$tmp/corpus-$fz_name"
	timeout -k 10 $((FUZZ_SECONDS + 60)) "$1" \
	    -max_total_time="$FUZZ_SECONDS" -runs=100000000 -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="build/fuzz/$fz_name-" \
	    "$tmp/corpus-$fz_name" ${fz_seed:+"$fz_seed"} \
	    </dev/null >"$tmp/fuzz.log" 2>&1
	fz_rc=$?
	fz_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' \
	    "$tmp/fuzz.log" | tail -n 1)
	if [ "$fz_rc" -eq 0 ]; then
		echo "PASS fuzz/$fz_name: ${fz_runs:-?} runs in" \
		    "$FUZZ_SECONDS s${fz_seed:+ from $fz_seed}"
		npass=$((npass + 1))
	else
		fz_why=$(grep -E '^(SUMMARY|==[0-9]+==ERROR)|deadly signal' \
		    "$tmp/fuzz.log" | head -n 3 | tr '\n' ' ')
		echo "FAIL fuzz/$fz_name: exit $fz_rc: ${fz_why:-see below}"
		tail -n 30 "$tmp/fuzz.log" | sed 's/^/    | /'
		nfail=$((nfail + 1))
	fi
	rm -rf "$tmp/corpus-$fz_name"
}

start=$(date +%s)

fuzzonly=0
if [ "${1:-}" = --fuzz ]; then
	fuzzonly=1
	shift
fi

if [ $# -eq 0 ] && [ "$fuzzonly" -eq 0 ]; then
	nunit=0
	for u in "$B"/unit/*; do
		[ -f "$u" ] && [ -x "$u" ] || continue
		nunit=$((nunit + 1))
		echo "# unit: $u"
		run "unit/${u##*/}" 120 "$u"
	done
	[ "$nunit" -gt 0 ] || echo "# no unit programs in $B/unit (make unit)"
fi

if [ $# -eq 0 ]; then
	for f in build/fuzz/fuzz_*; do
		[ -f "$f" ] && [ -x "$f" ] || continue
		echo "# fuzz: $f"
		fuzz "$f"
	done
fi

if [ $# -eq 0 ] && [ "$fuzzonly" -eq 0 ]; then
	set -- regress/e2e/*.sh
fi
for c in "$@"; do
	case $c in
	*/*)	;;
	*)	c=regress/e2e/${c%.sh}.sh ;;
	esac
	if [ ! -f "$c" ]; then
		echo "FAIL $(basename "$c" .sh): no such case ($c)"
		nfail=$((nfail + 1))
		continue
	fi
	echo "# e2e: $c"
	cstart=$(date +%s)
	run "$(basename "$c" .sh)" "$CASE_TIMEOUT" sh "$c"
	echo "# $(basename "$c" .sh): $(($(date +%s) - cstart)) s"
done

echo "# $(($(date +%s) - start)) s in all"
if [ "$nskip" -gt 0 ]; then
	echo "$npass passed, $nfail failed, $nskip skipped"
else
	echo "$npass passed, $nfail failed"
fi
[ "$nfail" -eq 0 ]
