#!/bin/sh
# tests/integration/test_deploy.sh: the deployment path of issue 7.
#   make install / uninstall into a DESTDIR (file list, modes, an existing config never overwritten, config and
#   database kept on uninstall); systemd-analyze verify and security on the installed unit; the man pages through
#   mandoc -T lint and man --warnings; check-config on the shipped example; and the Debian package: dpkg -i (user,
#   state directory, enabled but not started), dpkg -r (database and config kept), dpkg -P (purged).
# The package part changes this machine's package database, so it runs only as root with dpkg; it leaves nothing
# installed behind.
. "$(dirname "$0")/../lib.sh"
cd "$(dirname "$0")/../.."
repo=$(pwd)
bin=$LEAKPROFD_BIN
builddir=$(dirname "$bin")
out=$LEAKPROFD_TEST_OUT
mkdir -p "$out"
[ -x "$bin" ] || fail "no binary at $bin (make first)"
[ "$(basename "$bin")" = leakprofd ] || fail "LEAKPROFD_BIN must end in /leakprofd: $bin"

# mk TARGET VARS...: run this tree's Makefile on the binary under test, never rebuilding it.
mk() {
	make --no-print-directory -C "$repo" BUILD="$builddir" -o "$bin" "$@"
}

# ---- make install into a DESTDIR ----
dest=$TEST_TMP/dest
mk install DESTDIR="$dest" > "$TEST_TMP/install.log" 2>&1 || { cat "$TEST_TMP/install.log"; fail "make install"; }
(cd "$dest" && find . -type f | sort) > "$TEST_TMP/files"
cat > "$TEST_TMP/want" <<'EOF'
./etc/leakprofd/leakprofd.yaml
./usr/local/bin/leakprofd
./usr/local/lib/systemd/system/leakprofd.service
./usr/local/lib/sysusers.d/leakprofd.conf
./usr/local/share/doc/leakprofd/leakprofd.yaml.example
./usr/local/share/man/man5/leakprofd.yaml.5
./usr/local/share/man/man8/leakprofd.8
EOF
diff -u "$TEST_TMP/want" "$TEST_TMP/files" || fail "make install: unexpected file list"
assert_eq "binary mode" "$(stat -c %a "$dest/usr/local/bin/leakprofd")" 755
assert_eq "config mode" "$(stat -c %a "$dest/etc/leakprofd/leakprofd.yaml")" 644
cmp -s deploy/leakprofd.yaml "$dest/etc/leakprofd/leakprofd.yaml" || fail "installed config is not the example"
grep -q '^ExecStart=/usr/local/bin/leakprofd run --config /etc/leakprofd/leakprofd.yaml$' \
	"$dest/usr/local/lib/systemd/system/leakprofd.service" || fail "unit: ExecStart"

# The installed binary runs, and the installed example validates.
"$dest/usr/local/bin/leakprofd" --version | grep -q '^leakprofd ' || fail "--version"
"$dest/usr/local/bin/leakprofd" --help | grep -q 'check-config' || fail "--help lists no check-config"
assert_eq "check-config on the example" \
	"$("$dest/usr/local/bin/leakprofd" check-config "$dest/etc/leakprofd/leakprofd.yaml")" "configuration OK"

# Another PREFIX rewrites the unit's paths.
mk install DESTDIR="$TEST_TMP/dest-usr" PREFIX=/usr > /dev/null 2>&1 || fail "make install PREFIX=/usr"
grep -q '^ExecStart=/usr/bin/leakprofd run ' "$TEST_TMP/dest-usr/usr/lib/systemd/system/leakprofd.service" ||
	fail "PREFIX=/usr: unit still names another binary"

# A second install keeps an edited config.
echo "# edited by the operator" >> "$dest/etc/leakprofd/leakprofd.yaml"
mk install DESTDIR="$dest" > "$TEST_TMP/install2.log" 2>&1 || fail "second make install"
grep -q 'keeping the existing' "$TEST_TMP/install2.log" || fail "second install did not say it kept the config"
tail -n 1 "$dest/etc/leakprofd/leakprofd.yaml" | grep -q 'edited by the operator' || fail "config overwritten"

# ---- systemd-analyze: verify and security, on the installed unit ----
if command -v systemd-analyze >/dev/null 2>&1 && [ -d /usr/lib/systemd/system ]; then
	# A root holding the install, the system's own units (for the targets ours orders against) and /bin/kill
	# (ExecReload), so verify checks the binary paths the unit names.
	vroot=$TEST_TMP/vroot
	mkdir -p "$vroot/usr/lib/systemd" "$vroot/bin"
	cp -a "$dest/." "$vroot/"
	cp -r /usr/lib/systemd/system "$vroot/usr/lib/systemd/"
	cp /bin/kill "$vroot/bin/kill"
	unit=/usr/local/lib/systemd/system/leakprofd.service
	# Documentation= names man pages: man finds them through MANPATH in the install.
	if ! MANPATH="$dest/usr/local/share/man" systemd-analyze verify --root="$vroot" "$unit" \
		> "$TEST_TMP/verify.log" 2>&1; then
		cat "$TEST_TMP/verify.log"
		fail "systemd-analyze verify"
	fi
	[ ! -s "$TEST_TMP/verify.log" ] || { cat "$TEST_TMP/verify.log"; fail "systemd-analyze verify warned"; }
	# The check can fail: without the binary, verify rejects the unit.
	mv "$vroot/usr/local/bin/leakprofd" "$vroot/usr/local/bin/leakprofd.moved"
	if MANPATH="$dest/usr/local/share/man" systemd-analyze verify --root="$vroot" "$unit" >/dev/null 2>&1; then
		fail "systemd-analyze verify accepted a unit whose binary is missing"
	fi
	mv "$vroot/usr/local/bin/leakprofd.moved" "$vroot/usr/local/bin/leakprofd"

	# Exposure score (offline: works without systemd as PID 1). Target: below 2.0.
	systemd-analyze security --offline=true --root="$vroot" leakprofd.service > "$out/deploy-security.txt" 2>&1 ||
		true
	score=$(sed -n 's/.*Overall exposure level for leakprofd.service: \([0-9.]*\).*/\1/p' "$out/deploy-security.txt")
	[ -n "$score" ] || { cat "$out/deploy-security.txt"; fail "no exposure score"; }
	echo "systemd-analyze security: exposure $score (details in $out/deploy-security.txt)"
	awk -v s="$score" 'BEGIN { exit !(s < 2.0) }' || fail "exposure $score is not below 2.0"
	for d in Type=notify WatchdogSec= 'ExecReload=/bin/kill -HUP $MAINPID' Restart=on-failure \
		NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes \
		'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' SystemCallFilter=@system-service \
		MemoryDenyWriteExecute=yes 'CapabilityBoundingSet=' UMask=0077 StateDirectory=leakprofd; do
		grep -q "^$d" "$vroot$unit" || fail "unit lacks $d"
	done
else
	echo "note: systemd-analyze not installed: unit verification and exposure score not run"
fi

# ---- man pages ----
for page in "$dest/usr/local/share/man/man8/leakprofd.8" "$dest/usr/local/share/man/man5/leakprofd.yaml.5"; do
	if command -v mandoc >/dev/null 2>&1; then
		mandoc -T lint -W warning "$page" || fail "mandoc -T lint: $page"
	fi
	if command -v man >/dev/null 2>&1; then
		MANWIDTH=80 man --warnings -E UTF-8 -l "$page" > "$TEST_TMP/page.txt" 2> "$TEST_TMP/man.err" ||
			fail "man -l $page"
		[ ! -s "$TEST_TMP/man.err" ] || { cat "$TEST_TMP/man.err"; fail "man --warnings: $page"; }
		[ -s "$TEST_TMP/page.txt" ] || fail "man rendered nothing for $page"
	fi
done
command -v mandoc >/dev/null 2>&1 || command -v man >/dev/null 2>&1 || skip "neither mandoc nor man installed"
# leakprofd.yaml(5) documents every key the loader knows (the keys of the shipped example).
for key in $(sed -n 's/^ *#* *\([a-z_]*\):.*/\1/p' deploy/leakprofd.yaml | sort -u); do
	grep -qE "(^|[ .])Ic $key( |\$)" deploy/leakprofd.yaml.5 || fail "leakprofd.yaml(5) lacks key '$key'"
done
# leakprofd(8) names every subcommand of --help.
for cmd in run parse scrape suspects check-config test-webhook migrate-db; do
	grep -q "^\.Cm $cmd\$" deploy/leakprofd.8 || fail "leakprofd(8) lacks command $cmd"
	"$bin" --help | grep -q "leakprofd $cmd" || fail "--help lacks $cmd"
done

# ---- make uninstall: removes what install added, keeps config and database ----
mkdir -p "$dest/var/lib/leakprofd"
echo "database" > "$dest/var/lib/leakprofd/leakprofd.db"
mk uninstall DESTDIR="$dest" > "$TEST_TMP/uninstall.log" 2>&1 || { cat "$TEST_TMP/uninstall.log"; fail "uninstall"; }
(cd "$dest" && find . -type f | sort) > "$TEST_TMP/files"
printf './etc/leakprofd/leakprofd.yaml\n./var/lib/leakprofd/leakprofd.db\n' > "$TEST_TMP/want"
diff -u "$TEST_TMP/want" "$TEST_TMP/files" || fail "make uninstall: unexpected files left"

# ---- the Debian package ----
if [ "$(id -u)" != 0 ] || ! command -v dpkg >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
	skip "install/uninstall and the unit checked; the .deb needs root and dpkg (dpkg -i changes the system)"
fi
mk deb > "$TEST_TMP/deb.log" 2>&1 || { cat "$TEST_TMP/deb.log"; fail "make deb"; }
deb=$(sed -n 's/^deb: //p' "$TEST_TMP/deb.log")
[ -f "$deb" ] || { cat "$TEST_TMP/deb.log"; fail "make deb built no package"; }
case $deb in build/leakprofd_*_*.deb) ;; *) fail "unexpected package name $deb" ;; esac
dpkg-deb -f "$deb" Package Version Architecture Depends
dpkg-deb -c "$deb" > "$TEST_TMP/deb.files"
for f in ./usr/bin/leakprofd ./lib/systemd/system/leakprofd.service ./usr/lib/sysusers.d/leakprofd.conf \
	./etc/leakprofd/leakprofd.yaml ./usr/share/man/man8/leakprofd.8.gz ./usr/share/man/man5/leakprofd.yaml.5.gz; do
	grep -q " $f\$" "$TEST_TMP/deb.files" || fail "package lacks $f"
done
grep -q ' root/root ' "$TEST_TMP/deb.files" || fail "package files not owned by root"

purge_pkg() {
	dpkg -P leakprofd > /dev/null 2>&1 || true
}
if dpkg -s leakprofd > /dev/null 2>&1; then
	echo "note: leakprofd was installed before this test (an earlier interrupted run?): purging it"
	purge_pkg
fi
# A `make install` without DESTDIR on this machine leaves an unpackaged /etc/leakprofd (and maybe a database):
# dpkg would stop at a conffile prompt, and purge would delete them. Move them aside and put them back after.
saved=/var/tmp/leakprofd-test-deploy-saved.$$
restore_saved() {
	for d in etc/leakprofd var/lib/leakprofd; do
		[ -e "$saved/$d" ] || continue
		if [ -e "/$d" ]; then
			echo "note: /$d exists again; the saved copy stays in $saved/$d" >&2
		else
			mv "$saved/$d" "/$d"
		fi
	done
	rmdir "$saved/etc" "$saved/var/lib" "$saved/var" "$saved" 2>/dev/null || true
}
for d in etc/leakprofd var/lib/leakprofd; do
	if [ -e "/$d" ]; then
		echo "note: moving the unpackaged /$d aside to $saved/$d for the package test"
		mkdir -p "$saved/$(dirname "$d")"
		mv "/$d" "$saved/$d"
	fi
done
trap 'purge_pkg; restore_saved; cleanup_bg' EXIT INT TERM

export DEBIAN_FRONTEND=noninteractive
dpkg -i "$deb" < /dev/null || fail "dpkg -i"
/usr/bin/leakprofd --version | grep -q '^leakprofd ' || fail "installed binary does not run"
getent passwd leakprofd > /dev/null || fail "dpkg -i created no user leakprofd"
assert_eq "state dir owner and mode" "$(stat -c '%U:%G %a' /var/lib/leakprofd)" "leakprofd:leakprofd 750"
[ -L /etc/systemd/system/multi-user.target.wants/leakprofd.service ] || fail "service not enabled"
if [ -d /run/systemd/system ]; then
	systemctl is-active --quiet leakprofd && fail "service started on install"
else
	# Other tests may run leakprofd from the build tree: look for the packaged binary only.
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" != /usr/bin/leakprofd ] || fail "/usr/bin/leakprofd runs after install"
	done
fi
assert_eq "check-config on the packaged config" "$(/usr/bin/leakprofd check-config /etc/leakprofd/leakprofd.yaml)" \
	"configuration OK"
# The service user can read its configuration.
if command -v setpriv >/dev/null 2>&1; then
	setpriv --reuid=leakprofd --regid=leakprofd --init-groups \
		/usr/bin/leakprofd check-config /etc/leakprofd/leakprofd.yaml > /dev/null || fail "user leakprofd cannot read the config"
fi
grep -q '^ExecStart=/usr/bin/leakprofd run ' /lib/systemd/system/leakprofd.service || fail "packaged unit: ExecStart"

# Remove: binary and unit go; database and (edited) config stay; the unit is masked against accidental starts.
echo "# edited by the operator" >> /etc/leakprofd/leakprofd.yaml
echo "database" > /var/lib/leakprofd/leakprofd.db
dpkg -r leakprofd < /dev/null || fail "dpkg -r"
[ ! -e /usr/bin/leakprofd ] || fail "dpkg -r left the binary"
[ ! -e /lib/systemd/system/leakprofd.service ] || fail "dpkg -r left the unit"
[ -f /var/lib/leakprofd/leakprofd.db ] || fail "dpkg -r removed the database"
tail -n 1 /etc/leakprofd/leakprofd.yaml | grep -q 'edited by the operator' || fail "dpkg -r lost the config"
assert_eq "package state after remove" "$(dpkg-query -W -f='${Status}' leakprofd)" "deinstall ok config-files"

# Reinstall over the kept config: the edit survives, the service is enabled again.
dpkg -i "$deb" < /dev/null || fail "dpkg -i after remove"
tail -n 1 /etc/leakprofd/leakprofd.yaml | grep -q 'edited by the operator' || fail "reinstall replaced the config"
[ -f /var/lib/leakprofd/leakprofd.db ] || fail "reinstall lost the database"
[ -L /etc/systemd/system/multi-user.target.wants/leakprofd.service ] || fail "service not enabled after reinstall"
[ ! -L /etc/systemd/system/leakprofd.service ] || fail "service still masked after reinstall"

# Purge: database, config and enablement go.
dpkg -P leakprofd < /dev/null || fail "dpkg -P"
[ ! -e /var/lib/leakprofd ] || fail "dpkg -P left /var/lib/leakprofd"
[ ! -e /etc/leakprofd/leakprofd.yaml ] || fail "dpkg -P left the config"
[ ! -e /etc/leakprofd ] || fail "dpkg -P left /etc/leakprofd"
[ ! -e /etc/systemd/system/multi-user.target.wants/leakprofd.service ] || fail "dpkg -P left the enable link"
[ ! -e /etc/systemd/system/leakprofd.service ] || fail "dpkg -P left a mask"
dpkg -s leakprofd > /dev/null 2>&1 && fail "package still known after purge"
echo "deploy: install, unit, man pages and package all passed"
