#!/usr/bin/env bash
# Closes the MTA's own entry points to website users, so that the only way
# into the MTA from a site is through spamrun: the diverted sendmail
# (/usr/sbin/sendmail.distrib), Postfix's postdrop, postqueue and
# sendmail.postfix, and Exim's binary. See README.md, "The MTA's own
# programs".
#
# Usage: scripts/mta-lock.sh lock|unlock|check [--group NAME] [--root DIR] ...
#
# What each program becomes, by what it is rather than by its name:
#   a plain program (Postfix's sendmail)     root:NAME 0750
#   a setgid program (postdrop, postqueue)   NAME:<its group> 2550
#   a setuid-root program (Exim)             root:<Exim's group> 4750
# A setgid program must keep its group, postdrop, or it could no longer
# write the maildrop; so the installation reaches it as its owner: the user
# NAME, whose processes (spamrun's sendmail, which runs setuid NAME, and the
# queue runner) are the only ones that submit through the MTA. Site users
# are not given the postdrop group. Exim re-executes itself as its own user
# and must keep its setuid root, so Exim's group runs it; spamrun reaches
# Exim over SMTP ([relay] smtp, the default), not through its sendmail.
# Postfix's daemons never run postdrop or postqueue: they write the queue
# themselves.
#
# lock records each file's owner, group and mode before it first changes
# them, in a state file only root can write, so that unlock restores them
# exactly; running lock again keeps that record. Where dpkg is present,
# dpkg-statoverride records the locked modes too (unlock puts back the
# overrides it found), so that dpkg applies them to the files of a new
# package version. Debian's postfix re-adds its own overrides for postdrop
# and postqueue on every upgrade, so lock also installs an apt hook that
# locks again after each dpkg run. With --root DIR, dpkg-statoverride works
# on DIR's own dpkg database (DIR/var/lib/dpkg) and is skipped when there
# is none; the system's is never touched, and no apt hook is installed.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: mta-lock.sh lock   [--group NAME] [--root DIR] [--exim-group NAME] [--no-statoverride]
                          [--force] [--quiet]
       mta-lock.sh unlock [--group NAME] [--root DIR]
       mta-lock.sh check  [--group NAME] [--root DIR] [--exim-group NAME] [--user LOGIN]
                          [--postfix-config DIR]

lock     restricts the MTA's programs under DIR/usr/sbin (sendmail.distrib,
         sendmail.postfix, postdrop, postqueue, exim4, exim) to root, the MTA
         and the installation user and group NAME (default spamrun).
unlock   restores the owners, groups and modes lock found.
check    verifies the lock: modes as lock sets them, the programs run for
         root, for NAME (for Exim: for Exim's user), and LOGIN (default
         nobody, standing for a site user) cannot run any of them; Postfix's
         queue answers root (postqueue -p, of the instance in DIR with
         --postfix-config), Exim its version. Exit status 1 when something
         is wrong.

--root DIR        work on the files under DIR instead of / (a chroot, a test);
                  dpkg-statoverride then uses DIR/var/lib/dpkg, or is skipped
                  when DIR has none, and no apt hook is installed.
--exim-group NAME the group Exim runs as, which keeps its setuid binary
                  (default Debian-exim, else exim).
--no-statoverride set modes with chown/chmod only, also with --root /.
--force           lock although DIR/usr/sbin/sendmail is still the MTA's own:
                  without spamrun's sendmail in its place, site users could
                  send no mail at all.
--quiet           say only what fails.
EOF
}

die() {
	echo "mta-lock.sh: $*" >&2
	exit 1
}

quiet=0
say() { ((quiet)) || echo "mta-lock.sh: $*"; }

(($#)) || {
	usage >&2
	exit 2
}
action=$1
shift
case $action in
lock | unlock | check) ;;
-h | --help)
	usage
	exit 0
	;;
*)
	usage >&2
	die "unknown subcommand: $action"
	;;
esac

group=spamrun
prefix=/
site_user=nobody
postfix_config=
exim_group=
statoverride=1
force=0
while (($#)); do
	case $1 in
	--group)
		(($# >= 2)) || die "--group needs a name"
		group=$2
		shift
		;;
	--group=*) group=${1#--group=} ;;
	--root)
		(($# >= 2)) || die "--root needs a directory"
		prefix=$2
		shift
		;;
	--root=*) prefix=${1#--root=} ;;
	--user)
		(($# >= 2)) || die "--user needs a login"
		site_user=$2
		shift
		;;
	--user=*) site_user=${1#--user=} ;;
	--postfix-config)
		(($# >= 2)) || die "--postfix-config needs a directory"
		postfix_config=$2
		shift
		;;
	--postfix-config=*) postfix_config=${1#--postfix-config=} ;;
	--exim-group)
		(($# >= 2)) || die "--exim-group needs a name"
		exim_group=$2
		shift
		;;
	--exim-group=*) exim_group=${1#--exim-group=} ;;
	--no-statoverride) statoverride=0 ;;
	--force) force=1 ;;
	--quiet) quiet=1 ;;
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

[[ $prefix =~ ^/[A-Za-z0-9._+@/-]*$ ]] || die "--root must be an absolute path of letters, digits and ._+@/- (got '$prefix')"
[[ $group =~ ^[a-z_][a-z0-9_-]*$ ]] || die "--group must be a lower-case group name (got '$group')"
[[ -z $exim_group || $exim_group =~ ^[A-Za-z_][A-Za-z0-9_-]*$ ]] || die "--exim-group must be a group name (got '$exim_group')"
[ "$(id -u)" -eq 0 ] || die "run as root: it changes the owners and modes of the MTA's programs"

root=${prefix%/}
while [[ $root == */ ]]; do root=${root%/}; done

# The state is root's alone: unlock applies what it says as root, so a
# file the installation user could write (its state directory is group
# writable) would let that user choose modes for root to set.
state_dir=$root/var/lib/spamrun-mta-lock
state=$state_dir/state
hook=$root/etc/apt/apt.conf.d/99spamrun-mta-lock
candidates=(sendmail.distrib sendmail.postfix postdrop postqueue exim4 exim)

# dpkg-statoverride works on the dpkg database of the root: with --root,
# only on one under it (a chroot's, or a test's), never on the system's.
dpkg_so=(dpkg-statoverride)
[ -z "$root" ] || dpkg_so+=(--root "$root")
if ((statoverride)) && ! command -v dpkg-statoverride >/dev/null; then
	statoverride=0
elif ((statoverride)) && [ -n "$root" ] && [ ! -e "$root/var/lib/dpkg/statoverride" ]; then
	statoverride=0
	[ "$action" != lock ] || say "no dpkg database under --root $root: modes are set with chown and chmod only"
fi

# Original owner, group and mode and dpkg override of each file, by path
# (the file's real path, under the root).
declare -A orig_uid=() orig_gid=() orig_mode=() orig_override=() used_override=()
order=()

# read_state loads the state file, refusing anything but what lock writes.
read_state() {
	[ -e "$state" ] || return 0
	local kind path uid gid mode so override
	while IFS=$'\t' read -r kind path uid gid mode so override; do
		case $kind in
		'#'* | '') continue ;;
		file) ;;
		*) die "$state: unknown line '$kind'" ;;
		esac
		[[ $path == "$root"/usr/* && $path =~ ^/[A-Za-z0-9._+@/-]+$ && $path != *..* ]] ||
			die "$state: '$path' is not a program under $root/usr"
		[[ $uid =~ ^[0-9]+$ && $gid =~ ^[0-9]+$ && $mode =~ ^[0-7]{3,4}$ && $so =~ ^[01]$ ]] ||
			die "$state: bad owner, group or mode for $path"
		[[ $override == - || $override =~ ^[A-Za-z0-9_.-]+\ [A-Za-z0-9_.-]+\ [0-7]{3,4}$ ]] ||
			die "$state: bad dpkg-statoverride entry for $path: '$override'"
		order+=("$path")
		orig_uid[$path]=$uid orig_gid[$path]=$gid orig_mode[$path]=$mode
		used_override[$path]=$so orig_override[$path]=$override
	done <"$state"
}

write_state() {
	install -d -o root -g root -m 0700 "$state_dir"
	local tmp=$state.tmp path
	{
		printf '# spamrun mta-lock.sh: owner, group and mode of each program before lock\n'
		printf '# kind\tpath\tuid\tgid\tmode\tstatoverride\toriginal override\n'
		for path in "${order[@]}"; do
			printf 'file\t%s\t%s\t%s\t%s\t%s\t%s\n' "$path" "${orig_uid[$path]}" "${orig_gid[$path]}" \
				"${orig_mode[$path]}" "${used_override[$path]}" "${orig_override[$path]}"
		done
	} >"$tmp"
	chmod 0600 "$tmp"
	mv -f "$tmp" "$state"
}

# mta_group is the group Exim runs as, for its setuid binary.
mta_group() {
	local g
	if [ -n "$exim_group" ]; then
		getent group "$exim_group" >/dev/null || die "no group $exim_group (--exim-group)"
		echo "$exim_group"
		return
	fi
	for g in Debian-exim exim; do
		if getent group "$g" >/dev/null; then
			echo "$g"
			return
		fi
	done
	die "$1 is setuid root (Exim?) but there is no group Debian-exim or exim to give it to: name Exim's with --exim-group"
}

# target prints the owner, group and mode lock gives path, from its mode
# before lock (so that locking again computes the same).
target() {
	local path=$1 mode=$((8#${orig_mode[$1]})) uid=${orig_uid[$1]}
	if ((mode & 8#4000)) && ((uid == 0)); then
		echo "root $(mta_group "$path") 4750"
	elif ((mode & 8#2000)); then
		local setgid_group
		setgid_group=$(getent group "${orig_gid[$path]}" | cut -d: -f1)
		[ -n "$setgid_group" ] || die "$path is setgid to group ${orig_gid[$path]}, which has no name"
		echo "$group $setgid_group 2550"
	else
		echo "root $group 0750"
	fi
}

# real resolves a program's path, refusing one that leads out of the root.
real() {
	local r
	r=$(readlink -f "$1")
	[ -z "$root" ] || [[ $r == "$root"/* ]] || die "$1 leads to $r, outside --root $root"
	echo "$r"
}

current() { stat -c '%u %g %a' "$1"; }
# octal prints a mode without leading zeros, as stat and dpkg-statoverride do.
octal() { printf '%o' "$((8#$1))"; }
describe() { stat -c '%U:%G %a' "$1"; }

# dpath is a path as the dpkg database of the root names it.
dpath() { echo "${1#"$root"}"; }

override_of() {
	local o g m
	read -r o g m _ < <("${dpkg_so[@]}" --list "$(dpath "$1")" 2>/dev/null) || true
	[ -z "$m" ] || echo "$o $g $(octal "$m")"
}

lock() {
	getent group "$group" >/dev/null || die "no group $group: run install.sh first"
	getent passwd "$group" >/dev/null || die "no user $group, the installation's: run install.sh first"
	local sendmail=$root/usr/sbin/sendmail
	if ((!force)) && [ -e "$sendmail" ] && [[ $(basename "$(readlink -f "$sendmail")") != spamrun* ]]; then
		die "$sendmail is still the MTA's ($(readlink -f "$sendmail")): locking would leave website users no way to send mail; let install.sh put spamrun's sendmail there first, or pass --force"
	fi
	read_state
	local name path owner grp mode was now want
	declare -A seen=()
	for name in "${candidates[@]}"; do
		[ -e "$root/usr/sbin/$name" ] || continue
		path=$(real "$root/usr/sbin/$name")
		[ -z "${seen[$path]:-}" ] || continue
		seen[$path]=1
		if [ -z "${orig_mode[$path]:-}" ]; then
			now=$(current "$path")
			read -r "orig_uid[$path]" "orig_gid[$path]" "orig_mode[$path]" <<<"$now"
			used_override[$path]=$statoverride
			orig_override[$path]=-
			if ((statoverride)); then
				was=$(override_of "$path")
				[ -z "$was" ] || orig_override[$path]=$was
			fi
			order+=("$path")
			# Recorded before anything changes, so that an interrupted
			# lock can still be undone.
			write_state
		fi
		# Assigned first: a failure inside target ends the script here.
		want=$(target "$path")
		read -r owner grp mode <<<"$want"
		was=$(describe "$path")
		if ((statoverride)); then
			used_override[$path]=1
			if [ "$(override_of "$path")" != "$owner $grp $(octal "$mode")" ]; then
				"${dpkg_so[@]}" --quiet --remove "$(dpath "$path")" 2>/dev/null || true
				"${dpkg_so[@]}" --update --add "$owner" "$grp" "$mode" "$(dpath "$path")"
			fi
		fi
		# chown clears the setuid and setgid bits: the mode comes after.
		chown "$owner:$grp" "$path"
		chmod "$mode" "$path"
		now=$(describe "$path")
		if [ "$was" = "$now" ]; then
			say "$path is locked: $now"
		else
			say "locked $path: $was -> $now"
		fi
	done
	write_state
	if ((${#order[@]} == 0)); then
		say "no MTA programs under $root/usr/sbin to lock"
	fi
	if [ -n "$root" ]; then
		say "--root is $root, not /: no apt hook"
	elif [ -d /etc/apt/apt.conf.d ]; then
		local self
		self=$(readlink -f "$0")
		local args="--group '$group'"
		[ -z "$exim_group" ] || args+=" --exim-group '$exim_group'"
		[[ $self =~ ^/[A-Za-z0-9._+@/-]+$ ]] || die "cannot name $self in an apt hook: install mta-lock.sh at a plainer path"
		printf '%s\n' \
			"// spamrun: a package upgrade resets the modes of the MTA's programs (Debian's" \
			"// postfix re-adds its own dpkg-statoverride entries): lock them again." \
			"DPkg::Post-Invoke { \"if [ -x '$self' ]; then '$self' lock $args --quiet || true; fi\"; };" \
			>"$hook.tmp"
		chmod 0644 "$hook.tmp"
		mv -f "$hook.tmp" "$hook"
		say "apt runs $self lock again after each dpkg run ($hook)"
	fi
}

unlock() {
	read_state
	[ -e "$state" ] || {
		say "nothing to unlock: no $state"
		return 0
	}
	local path
	for path in "${order[@]}"; do
		if [ "${used_override[$path]}" = 1 ] && command -v dpkg-statoverride >/dev/null; then
			"${dpkg_so[@]}" --quiet --remove "$(dpath "$path")" 2>/dev/null || true
			if [ "${orig_override[$path]}" != - ]; then
				# shellcheck disable=SC2086 # owner, group and mode as three words
				"${dpkg_so[@]}" --add ${orig_override[$path]} "$(dpath "$path")"
			fi
		fi
		if [ -e "$path" ]; then
			chown "${orig_uid[$path]}:${orig_gid[$path]}" "$path"
			chmod "${orig_mode[$path]}" "$path"
			say "restored $path: $(describe "$path")"
		else
			say "$path is gone: nothing to restore"
		fi
	done
	rm -f "$state" "$hook"
	rmdir "$state_dir" 2>/dev/null || true
}

# runs_as prints "denied" when user cannot execute path, else "runs" and
# what the program said. The program gets arguments on which it stops
# before it reads or writes any queue: Exim prints its version, Postfix's
# programs refuse an unknown option.
runs_as() {
	local user=$1 path=$2 args out rc
	case $(basename "$path") in
	exim*) args=(-bV) ;;
	*) args=(-Z) ;;
	esac
	rc=0
	# setpriv keeps root's capabilities until its own execve, so the
	# program it started would pass any permission check: a shell started
	# by setpriv executes it, with the user's rights alone.
	# shellcheck disable=SC2016 # $0 and $@ are the inner shell's
	out=$(setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups -- \
		/bin/sh -c 'exec "$0" "$@"' "$path" "${args[@]}" </dev/null 2>&1) || rc=$?
	if ((rc == 126)) && [[ $out == *"Permission denied"* ]]; then
		echo denied
	else
		echo "runs: $(head -n1 <<<"$out")"
	fi
}

check() {
	command -v setpriv >/dev/null || die "check needs setpriv (util-linux)"
	id "$site_user" >/dev/null 2>&1 || die "no user $site_user to try the programs as"
	read_state
	[ -e "$state" ] || {
		echo "mta-lock.sh: FAIL: not locked (no $state): run mta-lock.sh lock" >&2
		return 1
	}
	local path owner grp mode got want r out fails=0 exim=0
	fail() {
		echo "mta-lock.sh: FAIL: $*" >&2
		fails=$((fails + 1))
	}
	for path in "${order[@]}"; do
		[ -e "$path" ] || continue
		want=$(target "$path")
		read -r owner grp mode <<<"$want"
		got=$(stat -c '%U %G %a' "$path")
		want="$owner $grp $(octal "$mode")"
		if [ "$got" != "$want" ]; then
			fail "$path is ${got// /:} (mode last), lock makes it ${want// /:}: run mta-lock.sh lock again"
		fi
		r=$(runs_as root "$path")
		if [[ $r == runs* ]]; then say "ok: root runs $path"; else fail "root cannot run $path"; fi
		if ((8#$mode & 8#4000)); then
			exim=1
			# Exim runs its binary again as its own user, named as its
			# group is on Debian.
			if getent passwd "$grp" >/dev/null; then
				r=$(runs_as "$grp" "$path")
				if [[ $r == runs* ]]; then say "ok: $grp runs $path"; else fail "$grp, Exim's user, cannot run $path"; fi
			fi
		else
			r=$(runs_as "$group" "$path")
			if [[ $r == runs* ]]; then
				say "ok: $group runs $path"
			else
				fail "$group cannot run $path: spamrun could not relay through it"
			fi
		fi
		r=$(runs_as "$site_user" "$path")
		if [ "$r" = denied ]; then say "ok: $site_user cannot run $path"; else fail "$site_user can run $path ($r)"; fi
	done
	if [ -e "$root/usr/sbin/postqueue" ]; then
		local cf=()
		[ -z "$postfix_config" ] || cf=(-c "$postfix_config")
		if out=$("$root/usr/sbin/postqueue" "${cf[@]}" -p 2>&1); then
			say "ok: Postfix answers root (postqueue -p: $(head -n1 <<<"$out"))"
		else
			fail "postqueue -p as root: $(head -n1 <<<"$out")"
		fi
	fi
	if ((exim)); then
		for path in "$root/usr/sbin/exim4" "$root/usr/sbin/exim"; do
			[ -e "$path" ] || continue
			if out=$("$path" -bV 2>&1); then
				say "ok: Exim answers root ($(head -n1 <<<"$out"))"
			else
				fail "$path -bV as root: $(head -n1 <<<"$out")"
			fi
			break
		done
	fi
	((fails == 0))
}

"$action"
