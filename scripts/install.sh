#!/usr/bin/env bash
# Installs spamrun's sendmail the way Postfix installs postdrop: setgid to a
# group that alone may write the state and the spool, so that a website can
# submit mail but cannot read other sites' mail, reset its own counters or
# re-enable itself. See README.md, "Installing as /usr/sbin/sendmail".
#
# Usage: scripts/install.sh [--prefix DIR] [--group NAME] [--no-divert] [--egress|--no-egress]
#        scripts/install.sh [--prefix DIR] [--egress] --uninstall
#
# Running it again is safe: it rebuilds and reinstalls the binary, keeps an
# existing configuration and repairs owners and modes.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: install.sh [--prefix DIR] [--group NAME] [--no-divert] [--egress|--no-egress]
       install.sh [--prefix DIR] [--egress] --uninstall

Builds sendmail and installs it setgid NAME (default spamrun) as
PREFIX/usr/local/sbin/spamrun-sendmail, reading only PREFIX/etc/spamrun/spamrun.toml,
the sendmail front beside it as PREFIX/usr/local/sbin/spamrun-sendmail-front
(root:root 0755), and the operator command as PREFIX/usr/local/sbin/spamrun
(root:NAME 0750). Creates the group, PREFIX/var/lib/spamrun,
PREFIX/var/spool/spamrun and PREFIX/run/spamrun, where spamrun serve makes
the front's socket (with the default prefix, also at every boot:
/etc/tmpfiles.d/spamrun.conf).

With the default prefix / it also runs spamrun serve, the queue runner and
the SMTP listener: with systemd, the unit
/etc/systemd/system/spamrun-queue.service (enabled and started when systemd
is running); without a running systemd, a cron job that keeps it running.
Unless --no-divert is given, it diverts the MTA's /usr/sbin/sendmail to
/usr/sbin/sendmail.distrib, links the sendmail front in its place, and closes the
MTA's own programs (its sendmail, postdrop, postqueue, Exim) to everyone but
root, the MTA and spamrun with /usr/local/sbin/spamrun-mta-lock. At the end
it runs spamrun doctor, which tries every door as each site's user.

With the default prefix / it also applies the egress lock (spamrun egress
apply: the nftables table inet spamrun, which sends the websites' own SMTP
connections to spamrun's listener), at once and at every boot: with systemd,
the unit /etc/systemd/system/spamrun-egress.service; without it, a script in
/etc/local.d or a snapshot in /etc/nftables.d where those exist. --no-egress
leaves the lock out; --egress applies it with any prefix too (but sets up
nothing for the boot then).

--uninstall removes the binaries, the units, the link, the diversion, the
cron job, the socket's directory and its tmpfiles.d entry and the egress lock
(with a prefix, only when --egress is given); it keeps the configuration, the
state, the spool and the group.
EOF
}

die() {
	echo "install.sh: $*" >&2
	exit 1
}

say() { echo "install.sh: $*"; }

prefix=/
group=spamrun
divert=1
uninstall=0
egress= # apply the egress lock: "" means only with the default prefix
while (($#)); do
	case $1 in
	--prefix)
		(($# >= 2)) || die "--prefix needs a directory"
		prefix=$2
		shift
		;;
	--prefix=*) prefix=${1#--prefix=} ;;
	--group)
		(($# >= 2)) || die "--group needs a name"
		group=$2
		shift
		;;
	--group=*) group=${1#--group=} ;;
	--no-divert) divert=0 ;;
	--egress) egress=1 ;;
	--no-egress) egress=0 ;;
	--uninstall) uninstall=1 ;;
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

# The prefix ends up inside a TOML string, a sed replacement and the
# binary; characters that mean something in any of them are refused rather
# than escaped three ways.
[[ $prefix =~ ^/[A-Za-z0-9._+@/-]*$ ]] || die "--prefix must be an absolute path of letters, digits and ._+@/- (got '$prefix')"
[[ $group =~ ^[a-z_][a-z0-9_-]*$ ]] || die "--group must be a lower-case group name (got '$group')"
[ "$(id -u)" -eq 0 ] || die "run as root: it creates a group and installs a setgid program"

# The steps install.sh shares with the Debian package's maintainer scripts.
# shellcheck source=scripts/setup-steps.sh
. "$(dirname "$0")/setup-steps.sh"

# Everything created here is meant to be traversable by the website users,
# whatever umask sudo passed on.
umask 022

root=${prefix%/}
while [[ $root == */ ]]; do root=${root%/}; done
system=0
[ -z "$root" ] && system=1
[ -n "$egress" ] || egress=$system

etc_dir=$root/etc/spamrun
config=$etc_dir/spamrun.toml
state_dir=$root/var/lib/spamrun
spool_dir=$root/var/spool/spamrun
bin=$root/usr/local/sbin/spamrun-sendmail
# The front runs the full sendmail from its own directory.
front=$(dirname "$bin")/spamrun-sendmail-front
run_dir=$root/run/spamrun
tmpfiles=/etc/tmpfiles.d/spamrun.conf
opbin=$root/usr/local/sbin/spamrun
cron=/etc/cron.d/spamrun
unit_name=spamrun-queue.service
unit=/etc/systemd/system/$unit_name
egress_unit_name=spamrun-egress.service
egress_unit=/etc/systemd/system/$egress_unit_name
sendmail=$sr_sendmail
mtalock=/usr/local/sbin/spamrun-mta-lock

if ((uninstall)); then
	if ((system)); then
		# The MTA's programs get their modes back before their diversion
		# goes: the lock recorded them under the diverted names.
		sr_unlock_mta "$mtalock" "$group"
		if [ -e "$mtalock" ]; then
			rm -f "$mtalock"
			say "removed $mtalock"
		fi
		sr_undivert "$front" ""
		if [ -e "$cron" ]; then
			rm -f "$cron"
			say "removed $cron"
		fi
		if [ -e "$unit" ]; then
			if sr_systemd_running; then
				systemctl disable --now "$unit_name" || say "warning: could not stop $unit_name"
			fi
			rm -f "$unit"
			if sr_systemd_running; then
				systemctl daemon-reload
			fi
			say "removed $unit"
		fi
		if [ -e "$egress_unit" ]; then
			if sr_systemd_running; then
				# Stopping the unit does not lift the lock; that comes below.
				systemctl disable --now "$egress_unit_name" || say "warning: could not stop $egress_unit_name"
			fi
			rm -f "$egress_unit"
			if sr_systemd_running; then
				systemctl daemon-reload
			fi
			say "removed $egress_unit"
		fi
		sr_remove_egress_boot
		if [ -e "$tmpfiles" ]; then
			rm -f "$tmpfiles"
			say "removed $tmpfiles"
		fi
	fi
	if [ -d "$run_dir" ]; then
		rm -rf "$run_dir"
		say "removed $run_dir"
	fi
	if ((egress)); then
		sr_remove_egress_lock
	fi
	for b in "$front" "$bin" "$opbin"; do
		if [ -e "$b" ]; then
			rm -f "$b"
			say "removed $b"
		fi
	done
	say "kept $config, $state_dir, $spool_dir and the group $group"
	exit 0
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
go=${GO:-go}
command -v "$go" >/dev/null || die "no Go toolchain ('$go'); install Go or set GO=/path/to/go"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

version=$("$repo/scripts/version.sh")
ldflags="-X github.com/spamrun/spamrun/config.DefaultPath=$config -X github.com/spamrun/spamrun/internal/version.Version=$version"
say "building sendmail $version (configuration $config)"
(cd "$repo" && "$go" build -trimpath -ldflags "$ldflags" -o "$work/spamrun-sendmail" ./sendmail)
say "building the sendmail front"
# The front looks for the daemon's socket where this installation puts it.
(cd "$repo" && "$go" build -trimpath -ldflags "$ldflags -X github.com/spamrun/spamrun/internal/handoff.DefaultSocket=$run_dir/sendmail.sock" \
	-o "$work/spamrun-sendmail-front" ./sendmail/front)
say "building the operator command spamrun"
(cd "$repo" && "$go" build -trimpath -ldflags "$ldflags" -o "$work/spamrun" ./cmd/spamrun)

sr_create_user "$group"
sr_make_dirs "$group" "$state_dir" "$spool_dir"
sr_make_run_dir "$group" "$run_dir"
if ((system)); then
	sr_tmpfiles "$group" "$run_dir" >"$work/spamrun.conf"
	install -D -m 0644 "$work/spamrun.conf" "$tmpfiles"
	say "installed $tmpfiles, which makes $run_dir at boot"
fi

install -d -o root -g root -m 0755 "$etc_dir"
if [ -e "$config" ]; then
	say "kept the existing $config"
else
	cp "$repo/config/spamrun.toml.example" "$work/spamrun.toml"
	if ((!system)); then
		sed -i -E \
			-e "s|^state_dir *=.*|state_dir = \"$state_dir\"   # under the prefix of install.sh|" \
			-e "s|^spool_dir *=.*|spool_dir = \"$spool_dir\"   # under the prefix of install.sh|" \
			-e "s|^sendmail_socket *=.*|sendmail_socket = \"$run_dir/sendmail.sock\"   # under the prefix of install.sh|" \
			"$work/spamrun.toml"
		for key in "state_dir = \"$state_dir\"" "spool_dir = \"$spool_dir\"" "sendmail_socket = \"$run_dir/sendmail.sock\""; do
			grep -qF "$key" "$work/spamrun.toml" ||
				die "config/spamrun.toml.example has no line '${key%% *} = ...' left to point at the prefix"
		done
	fi
	install -m 0640 "$work/spamrun.toml" "$config"
	say "created $config from the annotated example: review [relay], [enforce] and [sites] before mail flows through it"
fi
# Owner and mode are repaired on every run.
sr_config_modes "$group" "$config"
sr_check_socket_config "$config" "$run_dir/sendmail.sock"

mkdir -p "$(dirname "$bin")"
install -o "$group" -g "$group" -m 6755 "$work/spamrun-sendmail" "$bin"
say "installed $bin ($group:$group 6755)"
# Not setuid: the daemon must see the website's own UID on its socket.
install -o root -g root -m 0755 "$work/spamrun-sendmail-front" "$front"
say "installed $front (root:root 0755)"
# The operator command is not setgid: it reads the state and the spool as
# whoever runs it, root or a member of the group, and no one else may run it.
install -o root -g "$group" -m 0750 "$work/spamrun" "$opbin"
say "installed $opbin (root:$group 0750)"

sr_check_searchable "$front" "$bin" "$run_dir/sendmail.sock" "$state_dir" "$spool_dir" "$config"

if ((system)) && sr_has_systemd; then
	sed -e "s|^ExecStart=.*|ExecStart=$opbin serve|" \
		-e "s|^User=.*|User=$group|" \
		-e "s|^Group=.*|Group=$group|" \
		"$repo/scripts/$unit_name" >"$work/$unit_name"
	install -m 0644 "$work/$unit_name" "$unit"
	say "installed $unit"
	if sr_systemd_running; then
		systemctl daemon-reload
		systemctl enable "$unit_name"
		# restart, not start: a runner from before must run the new binary.
		systemctl restart "$unit_name"
		say "$unit_name enabled and started"
		# The runner does what the cron job did, at once rather than
		# within a minute.
		if [ -e "$cron" ]; then
			rm -f "$cron"
			say "removed $cron: the runner replaces it"
		fi
	else
		say "systemd is not running: $unit_name is installed but not started"
	fi
fi
if ((system)) && ! sr_systemd_running; then
	# The binary itself, not /usr/sbin/sendmail: with --no-divert that is
	# still the MTA's, whose -q means something else.
	sr_cron_serve "$cron" "$group" "$state_dir" "$opbin" "$run_dir"
fi

if ((system && divert)); then
	sr_divert "$front" ""
	install -o root -g root -m 0700 "$repo/scripts/mta-lock.sh" "$mtalock"
	sr_lock_mta "$mtalock" "$group"
elif ((system)); then
	say "left $sendmail alone (--no-divert), and the MTA's programs open to websites"
fi

# The egress lock: last, once the binary reads the installed configuration,
# the one it was built for, whatever SPAMRUN_CONFIG the caller has.
if ((egress)); then
	if ! command -v nft >/dev/null; then
		say "warning: nft is not installed (apt-get install nftables): the egress lock is not applied, and websites can send SMTP past spamrun"
	elif ((system)) && sr_has_systemd; then
		sed -e "s|^ExecStart=.*|ExecStart=$opbin egress apply|" \
			-e "s|^ExecReload=.*|ExecReload=$opbin egress apply|" \
			"$repo/scripts/$egress_unit_name" >"$work/$egress_unit_name"
		install -m 0644 "$work/$egress_unit_name" "$egress_unit"
		say "installed $egress_unit"
		if sr_systemd_running; then
			systemctl daemon-reload
			systemctl enable "$egress_unit_name"
			# restart, not start: a lock from before must be replaced by
			# the one the configuration describes now.
			systemctl restart "$egress_unit_name" ||
				die "the egress lock was not applied: journalctl -u $egress_unit_name says why"
			say "egress lock applied by $egress_unit_name, and again at every boot"
		else
			sr_egress_apply "$opbin" || die "the egress lock was not applied"
			say "systemd is not running: $egress_unit_name is installed for when it does"
		fi
	elif ((system)); then
		sr_egress_without_systemd "$opbin" || die "the egress lock was not applied"
	else
		sr_egress_apply "$opbin" || die "the egress lock was not applied"
	fi
elif ((system)); then
	say "left the egress lock out (--no-egress): websites can send SMTP past spamrun"
fi

# Last, every door tried as each site's user: through spamrun, closed or
# open, with the fix of each open one.
if ((system)); then
	env -u SPAMRUN_CONFIG "$opbin" doctor ||
		say "warning: spamrun doctor found doors open to websites; the table above says how to close each"
fi
