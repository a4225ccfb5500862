#!/usr/bin/env bash
# The sendmail round trip of the performance targets: spamrun's sendmail
# front -t -i, handing its message to spamrun serve, and the full
# spamrun-sendmail it falls back to, against a Go program that only reads
# stdin and against Postfix's sendmail -t -i, with the same message, N runs
# each (N=200 by default; N=50 bash bench/roundtrip.sh for a quick look),
# one at a time and from C senders at once (C=20 by default).
#
# Installs Postfix with apt when it is missing (Local only, unattended).
# Postfix's sendmail needs no running master: it hands the message to
# postdrop (setgid postdrop), which writes it into the maildrop directory
# and pokes the pickup service if one runs. The messages this benchmark
# leaves there are removed afterwards, unless a master is running to pick
# them up.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

if ! installed postfix; then
	echo "installing postfix (Local only)"
	echo "postfix postfix/main_mailer_type select Local only" | $sudo debconf-set-selections
	echo "postfix postfix/mailname string $(hostname --fqdn 2>/dev/null || hostname)" | $sudo debconf-set-selections
	$sudo apt-get update -qq
	if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postfix >/dev/null; then
		echo "postfix could not be installed; measuring without it" >&2
	fi
fi

postfix_sendmail=""
if installed postfix; then
	# When spamrun's sendmail was installed over /usr/sbin/sendmail with
	# dpkg-divert, Postfix's own is at the diverted name.
	postfix_sendmail=$(dpkg-divert --truename /usr/sbin/sendmail)
	[ -x "$postfix_sendmail" ] || postfix_sendmail=""
fi

work=$(mktemp -d)
maildrop=/var/spool/postfix/maildrop
# Without a master nothing picks up what Postfix's sendmail drops; remove
# the messages this run left, also when it fails half-way.
cleanup() {
	if [ -n "$postfix_sendmail" ] && [ -f "$work/maildrop.before" ] && ! $sudo postfix status >/dev/null 2>&1; then
		{ $sudo ls "$maildrop" || true; } | sort | comm -13 "$work/maildrop.before" - |
			sed "s|^|$maildrop/|" | $sudo xargs -r rm -f --
	fi
	rm -rf "$work"
}
trap cleanup EXIT

go build -trimpath -o "$work/spamrun-sendmail" ./sendmail
go build -trimpath -o "$work/spamrun-sendmail-front" ./sendmail/front
go build -trimpath -o "$work/spamrun" ./cmd/spamrun
go build -trimpath -o "$work/readstdin" ./bench/readstdin
go build -o "$work/roundtrip" ./bench/roundtrip

if [ -n "$postfix_sendmail" ]; then
	{ $sudo ls "$maildrop" || true; } | sort >"$work/maildrop.before"
fi

"$work/roundtrip" -n "${N:-200}" -c "${C:-20}" -reader "$work/readstdin" -front "$work/spamrun-sendmail-front" \
	-spamrun "$work/spamrun" ${postfix_sendmail:+-postfix "$postfix_sendmail"} "$@"
