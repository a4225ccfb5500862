#!/usr/bin/env bash
# Runs spamrun's checks and tests, installing what the tests need first.
#
# The tests start the real components they use (bounce parsers, and later
# spamd, rspamd, redis-server, PHP clients) themselves. With CI=true a
# missing component fails its test instead of skipping it, so this script
# installs them when they are absent.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests drive, and a command or Perl module that proves
# each is present.
need_pkgs=()
have_perl_module() { perl -M"$1" -e 1 >/dev/null 2>&1; }
have_file() { [ -e "$1" ]; }
have_perl_module Sisimai || need_pkgs+=(libsisimai-perl)
command -v php >/dev/null || need_pkgs+=(php-cli)
have_file /usr/share/php/libphp-phpmailer/autoload.php || need_pkgs+=(libphp-phpmailer)
have_file /usr/share/php/Symfony/Component/Mailer/autoload.php || need_pkgs+=(php-symfony-mailer)
command -v swaks >/dev/null || need_pkgs+=(swaks)
command -v redis-server >/dev/null || need_pkgs+=(redis-server)
command -v spamd >/dev/null || need_pkgs+=(spamd spamassassin)
command -v rspamd >/dev/null || need_pkgs+=(rspamd)
command -v chromium >/dev/null || need_pkgs+=(chromium fonts-dejavu-core)
# The egress lock's tests load nftables rules in a network namespace.
PATH=$PATH:/usr/sbin:/sbin command -v nft >/dev/null || need_pkgs+=(nftables)
PATH=$PATH:/usr/sbin:/sbin command -v ip >/dev/null || need_pkgs+=(iproute2)
# promtool checks the alert rules and the dashboard's queries in contrib/.
command -v promtool >/dev/null || need_pkgs+=(prometheus)
# lintian checks the Debian package that scripts/build-deb.sh builds with
# dpkg-deb.
command -v lintian >/dev/null || need_pkgs+=(lintian)
command -v dpkg-deb >/dev/null || need_pkgs+=(dpkg)
# spamrun top's terminal view is checked in a tmux pane.
command -v tmux >/dev/null || need_pkgs+=(tmux)
# Postfix plays the relay; the tests start instances of their own, so the
# package is installed without a configuration and its own never starts.
postfix=0
PATH=$PATH:/usr/sbin:/sbin command -v postfix >/dev/null || { need_pkgs+=(postfix); postfix=1; }

if ((${#need_pkgs[@]})); then
	echo "installing: ${need_pkgs[*]}"
	if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
	$sudo apt-get update -qq
	if ((postfix)); then
		echo 'postfix postfix/main_mailer_type select No configuration' | $sudo debconf-set-selections
	fi
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

echo "== gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== staticcheck"
staticcheck=$(command -v staticcheck || true)
if [ -z "$staticcheck" ]; then
	staticcheck="$(go env GOPATH)/bin/staticcheck"
	[ -x "$staticcheck" ] || go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
"$staticcheck" ./...

echo "== corpus"
# TestEmbeddedIsCurrent regenerates the text model from the SpamAssassin
# corpus; this finds a copy or downloads the pinned one (20 MB) once.
go run ./internal/textmodel/corpus/fetch

echo "== go test -race"
go test -race -count=1 -timeout 30m "$@" ./...
