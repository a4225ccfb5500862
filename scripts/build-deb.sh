#!/usr/bin/env bash
# Builds the Debian package spamrun_<version>_<arch>.deb from the checkout:
# the binaries cross-compiled with CGO_ENABLED=0, the files of debian/, the
# man pages and the bash completion (generated, committed: see
# internal/manpages), staged under a temporary directory and packed by
# dpkg-deb with every file owned by root.
#
# Usage: scripts/build-deb.sh [--arch amd64|arm64] [--out DIR]
#
# The version is scripts/version.sh --debian: 0.1.0~git<date>.<commit>
# until a release is tagged. The binaries print it (spamrun version) and
# sendmail logs it.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: build-deb.sh [--arch amd64|arm64] [--out DIR]

Builds spamrun_<version>_<arch>.deb in DIR (default: the current
directory) for the Debian architecture given (default: this machine's).
Needs Go and dpkg-deb; nothing else, and not root.
EOF
}

die() {
	echo "build-deb.sh: $*" >&2
	exit 1
}

arch=
out=.
while (($#)); do
	case $1 in
	--arch)
		(($# >= 2)) || die "--arch needs amd64 or arm64"
		arch=$2
		shift
		;;
	--arch=*) arch=${1#--arch=} ;;
	--out)
		(($# >= 2)) || die "--out needs a directory"
		out=$2
		shift
		;;
	--out=*) out=${1#--out=} ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		usage >&2
		die "unknown argument: $1"
		;;
	esac
	shift
done

[ -n "$arch" ] || arch=$(dpkg --print-architecture)
case $arch in
amd64 | arm64) goarch=$arch ;;
*) die "--arch must be amd64 or arm64 (got '$arch')" ;;
esac
command -v dpkg-deb >/dev/null || die "dpkg-deb is missing (apt-get install dpkg)"
go=${GO:-go}
command -v "$go" >/dev/null || die "no Go toolchain ('$go'); install Go or set GO=/path/to/go"
mkdir -p "$out"
out=$(cd "$out" && pwd)

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
version=$(scripts/version.sh --debian)
deb=$out/spamrun_${version}_$arch.deb

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
# A umask of the builder's must not reach the modes in the package.
umask 022

# The binaries: pure Go (CGO_ENABLED=0; SQLite is modernc's), linking no
# shared library; position-independent, as Debian builds every program,
# so that the setuid sendmail gets a randomised address space; stripped;
# reading /etc/spamrun/spamrun.toml. The sendmail front reads no
# configuration: it runs the full sendmail from its own directory.
ldflags="-s -w -X github.com/spamrun/spamrun/config.DefaultPath=/etc/spamrun/spamrun.toml"
ldflags+=" -X github.com/spamrun/spamrun/internal/version.Version=$version"
install -d "$root/usr/sbin"
for pkg in sendmail:spamrun-sendmail sendmail/front:spamrun-sendmail-front cmd/spamrun:spamrun; do
	echo "build-deb.sh: building ${pkg#*:} $version for linux/$goarch"
	CGO_ENABLED=0 GOOS=linux GOARCH=$goarch "$go" build -trimpath -buildvcs=false -buildmode=pie \
		-ldflags "$ldflags" -o "$root/usr/sbin/${pkg#*:}" "./${pkg%%:*}"
done

# What install.sh installs, at the package's paths. The modes the
# binaries run with (setuid spamrun, root:spamrun 0750) are set by
# postinst with dpkg-statoverride, once the user exists; the front stays
# root:root 0755.
install -D -m 0644 config/spamrun.toml.example "$root/etc/spamrun/spamrun.toml"
install -D -m 0755 scripts/mta-lock.sh "$root/usr/libexec/spamrun/mta-lock"
install -D -m 0644 scripts/setup-steps.sh "$root/usr/share/spamrun/setup-steps.sh"
# The directory of spamrun serve's socket, made at boot where the unit
# does not run it (its RuntimeDirectory), with the line install.sh writes.
# shellcheck source=scripts/setup-steps.sh
. scripts/setup-steps.sh
install -d "$root/usr/lib/tmpfiles.d"
sr_tmpfiles spamrun /run/spamrun >"$root/usr/lib/tmpfiles.d/spamrun.conf"
chmod 0644 "$root/usr/lib/tmpfiles.d/spamrun.conf"
for unit in spamrun-queue.service spamrun-egress.service; do
	install -d "$root/lib/systemd/system"
	sed -e "s|/usr/local/sbin/spamrun|/usr/sbin/spamrun|" \
		-e "s|^# scripts/install.sh installs this file.*|# Installed by the Debian package spamrun.|" \
		"scripts/$unit" >"$root/lib/systemd/system/$unit"
	chmod 0644 "$root/lib/systemd/system/$unit"
	grep -q '^ExecStart=/usr/sbin/spamrun ' "$root/lib/systemd/system/$unit" ||
		die "scripts/$unit: no ExecStart=/usr/local/sbin/spamrun line to point at /usr/sbin/spamrun"
done
for page in docs/man/*.[58]; do
	section=${page##*.}
	name=$(basename "$page")
	install -d "$root/usr/share/man/man$section"
	gzip -9n <"$page" >"$root/usr/share/man/man$section/$name.gz"
done
# spamrun-sendmail(8) describes the front too.
ln -s spamrun-sendmail.8.gz "$root/usr/share/man/man8/spamrun-sendmail-front.8.gz"
install -D -m 0644 scripts/spamrun.bash-completion "$root/usr/share/bash-completion/completions/spamrun"
doc=$root/usr/share/doc/spamrun
install -D -m 0644 debian/copyright "$doc/copyright"
install -D -m 0644 debian/spamrun.lintian-overrides "$root/usr/share/lintian/overrides/spamrun"
# The changelog's first entry is this build.
sed -e "1s/^spamrun ([^)]*)/spamrun ($version)/" debian/changelog | gzip -9n >"$doc/changelog.gz"
gzip -9n <README.md >"$doc/README.md.gz"
gzip -9n <CHANGELOG.md >"$doc/CHANGELOG.md.gz"

# The control area.
install -d -m 0755 "$root/DEBIAN"
{
	sed -n '/^Package:/p' debian/control
	echo "Version: $version"
	echo "Architecture: $arch"
	sed -n '/^Package:/!p' debian/control | sed '/^Description:/,$d'
	echo "Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)"
	sed -n '/^Description:/,$p' debian/control
} >"$root/DEBIAN/control"
install -m 0644 debian/conffiles "$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do
	install -m 0755 "debian/$script" "$root/DEBIAN/$script"
done
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

# Reproducible: every file dated by the commit.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
export SOURCE_DATE_EPOCH
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
