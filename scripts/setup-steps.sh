# shellcheck shell=bash
# The steps that set spamrun up on a host and take it down again, shared by
# scripts/install.sh (a source install) and the Debian package's maintainer
# scripts (installed as /usr/share/spamrun/setup-steps.sh): one place for
# each, so that both installs give the same users, modes, diversions and
# locks. It is sourced, never run, and defines functions only.
#
# The caller defines say (print a line of progress) and die (print an
# error and exit), and passes everything else as arguments.

# sr_has_systemd reports whether systemd is installed: its unit directory
# and systemctl. sr_systemd_running reports whether it booted the machine
# (sd_booted(3)); in a container it may be installed and not running, and
# then cron runs the queue.
sr_has_systemd() { [ -d /etc/systemd/system ] && command -v systemctl >/dev/null; }
sr_systemd_running() { [ -d /run/systemd/system ]; }

# sr_create_user GROUP creates the system group and the system user of
# that name. sendmail runs as this user once it has noted the website's
# UID, so the website can neither signal it nor stop it while it holds the
# state's lock.
sr_create_user() {
	local group=$1
	if getent group "$group" >/dev/null; then
		say "group $group exists"
	else
		groupadd --system "$group"
		say "created the system group $group"
	fi
	if getent passwd "$group" >/dev/null; then
		say "user $group exists"
	else
		useradd --system --gid "$group" --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$group"
		say "created the system user $group"
	fi
}

# sr_remove_user GROUP removes the user and the group sr_create_user made.
sr_remove_user() {
	local group=$1
	if getent passwd "$group" >/dev/null; then
		userdel "$group"
		say "removed the system user $group"
	fi
	if getent group "$group" >/dev/null; then
		groupdel "$group"
		say "removed the system group $group"
	fi
}

# sr_make_dirs GROUP STATE_DIR SPOOL_DIR makes the state and the spool,
# root:GROUP 2770. Setgid directories hand their group to every file
# sendmail creates, and the mode keeps websites, which are not in the
# group, out entirely.
sr_make_dirs() {
	local group=$1 state_dir=$2 spool_dir=$3
	mkdir -p "$(dirname "$state_dir")" "$(dirname "$spool_dir")"
	install -d -o root -g "$group" -m 2770 "$state_dir" "$spool_dir"
	# sendmail makes the spool's subdirectories itself when they are
	# missing, but under the umask of whichever website sends first: with
	# the usual 022 they would be that site's, mode 2750, and every other
	# site's mail would fail. Made here they are root's and the group's.
	install -d -o root -g "$group" -m 2770 "$spool_dir/tmp" "$spool_dir/queue" "$spool_dir/quarantine" "$spool_dir/lock"
	# After a change of group the files from before must follow, or
	# sendmail could no longer open them.
	chgrp -hR "$group" "$state_dir" "$spool_dir"
	say "state in $state_dir, spool in $spool_dir (root:$group 2770)"
}

# sr_make_run_dir GROUP RUN_DIR makes the directory of spamrun serve's
# sendmail socket, GROUP:GROUP 0755, now: the daemon runs as the user GROUP
# and creates the socket there, and websites must reach it to connect. At
# boot the unit's RuntimeDirectory makes it again, or systemd-tmpfiles
# from the tmpfiles.d entry where the unit does not run.
sr_make_run_dir() {
	local group=$1 run_dir=$2
	mkdir -p "$(dirname "$run_dir")"
	install -d -o "$group" -g "$group" -m 0755 "$run_dir"
	say "$run_dir holds spamrun serve's socket for the sendmail front ($group:$group 0755)"
}

# sr_tmpfiles GROUP RUN_DIR prints the tmpfiles.d(5) line that makes
# RUN_DIR as sr_make_run_dir does.
sr_tmpfiles() {
	local group=$1 run_dir=$2
	printf '%s\n' "# spamrun: the directory of spamrun serve's socket for the sendmail front." \
		"d $run_dir 0755 $group $group -"
}

# sr_check_socket_config CONFIG SOCKET says when the configuration, one
# kept from an earlier install, gives spamrun serve no socket for the
# sendmail front: the front then runs the full sendmail for every message.
sr_check_socket_config() {
	local config=$1 socket=$2
	if ! grep -Eq '^[[:space:]]*sendmail_socket[[:space:]]*=[[:space:]]*"/' "$config"; then
		say "note: $config sets no [smtpd] sendmail_socket, so the sendmail front runs the full sendmail for every message; set sendmail_socket = \"$socket\" and restart spamrun serve for the faster path"
	fi
}

# sr_config_modes GROUP CONFIG gives the configuration its owner and mode.
# It may hold the relay's password: sendmail reads it through the group,
# websites not at all.
sr_config_modes() {
	local group=$1 config=$2
	chown root:"$group" "$config"
	chmod 0640 "$config"
}

# sr_check_searchable PATH... warns about each directory above a path that
# others cannot search: websites run the binary and sendmail opens the
# directories under their UID.
sr_check_searchable() {
	local path dir
	declare -A checked=()
	for path in "$@"; do
		dir=$(dirname "$path")
		while [ -z "${checked[$dir]:-}" ]; do
			checked[$dir]=1
			if ! (((8#$(stat -c %a "$dir")) & 1)); then
				say "warning: others cannot search $dir, so websites cannot reach $path: chmod o+x $dir"
			fi
			[ "$dir" = / ] && break
			dir=$(dirname "$dir")
		done
	done
}

# The MTA's programs spamrun stands in for: the MTA's own is kept under
# the .distrib name. mailq is diverted too where it is a program of its
# own rather than a link to sendmail (with Postfix it is a link, and
# follows sendmail).
sr_sendmail=/usr/sbin/sendmail
sr_mailq=/usr/bin/mailq

# sr_divert_who OWNER prints the dpkg-divert options of a diversion held
# by the package OWNER, or a local one when OWNER is "" or LOCAL.
sr_divert_who() {
	case $1 in
	"" | LOCAL) echo --local ;;
	*) echo "--package $1" ;;
	esac
}

# sr_owner_name OWNER is OWNER as dpkg-divert --listpackage names it.
sr_owner_name() { echo "${1:-LOCAL}"; }

# sr_divert_one PATH BIN OWNER diverts PATH to PATH.distrib and links BIN
# in its place. OWNER is the package that holds the diversion, or "" for
# a local one (a source install). The package takes over the local
# diversion of a source install it replaces.
sr_divert_one() {
	local path=$1 bin=$2 owner=$3 held
	held=$(dpkg-divert --listpackage "$path")
	if [ "$held" = LOCAL ] && [ -n "$owner" ] && [ "$(dpkg-divert --truename "$path")" = "$path.distrib" ]; then
		[ ! -L "$path" ] || rm -f "$path"
		# shellcheck disable=SC2046 # the options are words
		dpkg-divert $(sr_divert_who LOCAL) --quiet --rename --remove "$path"
		say "took the local diversion of $path over for the package $owner"
	fi
	if [ "$(dpkg-divert --truename "$path")" != "$path.distrib" ]; then
		# shellcheck disable=SC2046 # the options are words
		dpkg-divert $(sr_divert_who "$owner") --quiet --rename --divert "$path.distrib" --add "$path"
		say "diverted the MTA's $path to $path.distrib"
	fi
	ln -sfn "$bin" "$path"
	say "$path is now spamrun's"
}

# sr_divert BIN OWNER puts spamrun's sendmail BIN, the sendmail front, in
# the place of the MTA's /usr/sbin/sendmail (and of its mailq), keeping
# the MTA's under the .distrib names.
sr_divert() {
	local bin=$1 owner=$2
	# Postfix's mailq links to ../sbin/sendmail and follows the diversion;
	# Exim's links to exim4 itself and is diverted too.
	case $(readlink "$sr_mailq") in
	../sbin/sendmail | "$sr_sendmail") ;;
	*) [ ! -e "$sr_mailq" ] || sr_divert_one "$sr_mailq" "$bin" "$owner" ;;
	esac
	sr_divert_one "$sr_sendmail" "$bin" "$owner"
}

# sr_undivert BIN OWNER gives the MTA its sendmail (and mailq) back: the
# links to BIN go, and those to the full spamrun-sendmail beside it that
# installs before the sendmail front made, and the diversions are removed
# with their files renamed back.
sr_undivert() {
	local bin=$1 owner=$2 path held target
	for path in "$sr_sendmail" "$sr_mailq"; do
		target=$(readlink "$path" || true)
		if [ -L "$path" ] && { [ "$target" = "$bin" ] || [ "$target" = "$(dirname "$bin")/spamrun-sendmail" ]; }; then
			rm -f "$path"
			say "removed the link $path"
		fi
		held=$(dpkg-divert --listpackage "$path")
		if [ "$(dpkg-divert --truename "$path")" = "$path.distrib" ] && [ "$held" = "$(sr_owner_name "$owner")" ]; then
			# shellcheck disable=SC2046 # the options are words
			dpkg-divert $(sr_divert_who "$owner") --quiet --rename --remove "$path"
			say "restored the MTA's $path"
		fi
	done
}

# sr_lock_mta MTALOCK GROUP closes the MTA's own programs, its sendmail
# under the diverted name among them, to everyone but root, the MTA and
# spamrun, with scripts/mta-lock.sh installed as MTALOCK.
sr_lock_mta() {
	local mtalock=$1 group=$2
	"$mtalock" lock --group "$group"
	"$mtalock" check --group "$group" ||
		say "warning: $mtalock check failed: is the MTA running? Run it again once it is"
}

# sr_unlock_mta MTALOCK GROUP gives the MTA's programs their modes back.
sr_unlock_mta() {
	local mtalock=$1 group=$2
	[ -x "$mtalock" ] || return 0
	"$mtalock" unlock --group "$group" || say "warning: could not give the MTA's programs their modes back"
}

# sr_cron_serve CRON GROUP STATE_DIR OPBIN RUN_DIR writes the cron job
# that runs spamrun serve (the queue runner and the SMTP listener) where
# systemd does not run: flock keeps one running, and cron starts it again
# within a minute when it ends. It runs as the installation user, as the
# unit does. Without systemd nothing reads tmpfiles.d, so the job makes
# RUN_DIR, which /run loses at each boot, as root at boot.
sr_cron_serve() {
	local cron=$1 group=$2 state_dir=$3 opbin=$4 run_dir=$5 tmp
	tmp=$(mktemp)
	printf '%s\n' \
		"# spamrun: the queue runner and the SMTP listener, started again when they end." \
		"@reboot root install -d -o $group -g $group -m 0755 $run_dir" \
		"* * * * * $group flock -n $state_dir/serve.lock $opbin serve" >"$tmp"
	install -m 0644 "$tmp" "$cron"
	rm -f "$tmp"
	say "spamrun serve is started, and kept running, from $cron"
}

# The egress lock loaded at boot where systemd does not run: OpenRC's
# local service runs /etc/local.d/*.start; some nftables setups include
# /etc/nftables.d/*.nft.
sr_egress_localstart=/etc/local.d/spamrun-egress.start
sr_egress_include=/etc/nftables.d/spamrun.nft

# sr_egress_apply OPBIN [ARGS] runs spamrun egress apply with the
# installed configuration, the one the binary was built for, whatever
# SPAMRUN_CONFIG the caller has. It fails closed: with egress = "redirect"
# and no listener running yet, a website's SMTP is refused rather than
# sent past spamrun.
sr_egress_apply() {
	local opbin=$1
	shift
	env -u SPAMRUN_CONFIG "$opbin" egress apply "$@"
}

# sr_egress_without_systemd OPBIN applies the egress lock now and sets up
# what loads it at boot on a system without systemd; it fails when the
# lock could not be applied.
sr_egress_without_systemd() {
	local opbin=$1 tmp
	sr_egress_apply "$opbin" || return
	tmp=$(mktemp)
	if [ -d "$(dirname "$sr_egress_localstart")" ]; then
		printf '%s\n' '#!/bin/sh' \
			"# spamrun: the egress lock (nftables table inet spamrun), at boot." \
			"exec $opbin egress apply" >"$tmp"
		install -m 0755 "$tmp" "$sr_egress_localstart"
		say "the lock is applied again at boot by $sr_egress_localstart"
	elif [ -d "$(dirname "$sr_egress_include")" ]; then
		# A snapshot: names in smtp_allow are resolved now, and a change
		# of the configuration needs it written again.
		sr_egress_apply "$opbin" --dry-run >"$tmp"
		install -m 0644 "$tmp" "$sr_egress_include"
		say "the lock is loaded at boot with the nftables ruleset from $sr_egress_include; after changing egress or smtp_allow, run: $opbin egress apply --dry-run > $sr_egress_include"
	else
		say "warning: without systemd nothing applies the lock at boot: run '$opbin egress apply' from your init's local start script"
	fi
	rm -f "$tmp"
}

# sr_remove_egress_boot removes what loads the egress lock at boot on a
# system without systemd.
sr_remove_egress_boot() {
	local f
	for f in "$sr_egress_localstart" "$sr_egress_include"; do
		if [ -e "$f" ]; then
			rm -f "$f"
			say "removed $f"
		fi
	done
}

# sr_remove_egress_lock removes the egress lock's table with nft itself,
# so that it goes even when the binary is already gone. Removing a table
# that is not there is no error: adding it first makes the delete safe,
# in one transaction.
sr_remove_egress_lock() {
	if ! command -v nft >/dev/null; then
		say "nft is not installed: there is no egress lock to remove"
		return
	fi
	printf 'table inet spamrun\ndelete table inet spamrun\n' | nft -f - ||
		die "could not remove the egress lock (nftables table inet spamrun)"
	say "removed the egress lock (nftables table inet spamrun)"
}
