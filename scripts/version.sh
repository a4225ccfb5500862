#!/usr/bin/env bash
# Prints the release of the checkout, as the binaries name it
# (spamrun version) and the Debian package is versioned.
#
# Usage: scripts/version.sh [--debian]
#
# Without --debian: git describe --tags --always --dirty, v dropped from a
# tag (0.1.0, 0.1.0-3-g8bb0d6f); without a tag, 0.0.0+git<sha>, with
# -dirty when the tree has changes.
#
# With --debian, a version dpkg orders: the tag itself (0.1.0); after a
# tag, 0.1.0+git<date>.<sha>; without a tag, the next release,
# 0.1.0~git<date>.<sha>, which sorts before 0.1.0. <date> is the commit's
# (UTC), so that building a commit twice gives one version; a dirty tree
# adds .dirty.
set -euo pipefail
cd "$(dirname "$0")/.."

# next is the release the untagged history leads to (CHANGELOG.md,
# "Unreleased").
next=0.1.0

debian=0
case ${1:-} in
--debian) debian=1 ;;
"") ;;
*)
	echo "usage: version.sh [--debian]" >&2
	exit 64
	;;
esac

if ! git rev-parse --git-dir >/dev/null 2>&1; then
	echo "$next~unknown"
	exit 0
fi
sha=$(git rev-parse --short=7 HEAD)
dirty=
git diff --quiet HEAD -- 2>/dev/null || dirty=1
tag=$(git describe --tags --abbrev=0 2>/dev/null || true)

if ((!debian)); then
	if [ -n "$tag" ]; then
		v=$(git describe --tags --always --dirty)
		echo "${v#v}"
	else
		echo "0.0.0+git$sha${dirty:+-dirty}"
	fi
	exit 0
fi

date=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d HEAD)
if [ -z "$tag" ]; then
	v="$next~git$date.$sha"
elif [ "$(git rev-list -n1 "$tag")" = "$(git rev-parse HEAD)" ]; then
	v=${tag#v}
else
	v="${tag#v}+git$date.$sha"
fi
echo "$v${dirty:+.dirty}"
