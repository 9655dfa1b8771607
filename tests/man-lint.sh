#!/bin/sh
# man-lint: every manual page in man/ must pass "mandoc -Tlint -W warning"
# without a single message.  mandoc is required (CI installs it): without it
# this test fails rather than skips, so a missing linter is never mistaken
# for clean pages.
srcdir=${srcdir:-.}

if ! command -v mandoc >/dev/null 2>&1; then
	echo "man-lint: FAIL: mandoc is not installed (Debian: apt-get install mandoc)" >&2
	exit 1
fi

status=0
count=0
for f in "$srcdir"/man/*.[1-9]; do
	[ -f "$f" ] || continue
	count=$((count + 1))
	out=$(mandoc -Tlint -W warning "$f" 2>&1)
	rc=$?
	if [ -n "$out" ] || [ "$rc" -ne 0 ]; then
		printf '%s\n' "$out" >&2
		echo "man-lint: FAIL $f (mandoc exit $rc)" >&2
		status=1
	else
		echo "man-lint: ok $f"
	fi
done
if [ "$count" -eq 0 ]; then
	echo "man-lint: FAIL: no manual pages found in $srcdir/man" >&2
	exit 1
fi
exit $status
