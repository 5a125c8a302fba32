# checks.sh: how a check says how it went, for POSIX sh.  Sourced by
# the end-to-end harness (regress/lib.sh) and by the package check
# (debian/deb.sh), whose output regress/run.sh and people read alike.
#
# One line a check: "PASS $CASE/CHECK", "FAIL $CASE/CHECK: WHY" or
# "SKIP $CASE/CHECK: WHY".  CHECKS counts the checks, FAILS the failed
# ones.  After its line, fail runs $FAIL_HOOK, if set (lib.sh shows the
# ends of the logs).

CHECKS=0
FAILS=0

pass()
{
	CHECKS=$((CHECKS + 1))
	echo "PASS $CASE/$1"
}

# fail CHECK WHY: the check failed.
fail()
{
	CHECKS=$((CHECKS + 1))
	FAILS=$((FAILS + 1))
	echo "FAIL $CASE/$1: $2"
	[ -z "${FAIL_HOOK:-}" ] || "$FAIL_HOOK"
}

skip()
{
	CHECKS=$((CHECKS + 1))
	echo "SKIP $CASE/$1: $2"
}

# check CHECK WHY CMD...: pass if CMD succeeds, else fail with WHY.
check()
{
	ck_name=$1
	ck_why=$2
	shift 2
	if "$@"; then
		pass "$ck_name"
	else
		fail "$ck_name" "$ck_why"
	fi
}

# refute CHECK WHY CMD...: pass if CMD fails, else fail with WHY.
refute()
{
	rf_name=$1
	rf_why=$2
	shift 2
	if "$@"; then
		fail "$rf_name" "$rf_why"
	else
		pass "$rf_name"
	fi
}
