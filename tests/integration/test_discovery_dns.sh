#!/bin/sh
# dns_sd: targets come from a real DNS server (dnsmasq on 127.0.0.1, serving SRV and A/AAAA records the test
# writes), asked through the configuration's 'server': SRV targets keep their host name and port, A and AAAA
# records get the configured port; they are scraped and listed on /api/v1/targets from the start; a change of
# the records is followed on the next refresh; a dead server and a server that refuses keep the last good
# list, the error logged once per source, naming it; a name that no longer exists (NXDOMAIN) empties its source's list,
# as Prometheus does.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ -x "$DNSMASQ" ] || skip "dnsmasq is not installed (Debian package dnsmasq-base)"
DB=$TEST_TMP/leakprofd.db
CFG=$TEST_TMP/leakprofd.yaml
LISTEN=$(free_listen)
DNS_PORT=$(free_port)

start_go a zoo -leak early_return=2
start_go b zoo -leak waitgroup=3
A=http://127.0.0.1:$a_port B=http://127.0.0.1:$b_port

# start_dns ARGS...: (re)start dnsmasq on 127.0.0.1:DNS_PORT with only the records in ARGS, authoritative for
# fleet.test (a name it does not have is NXDOMAIN) unless ARGS say otherwise.
start_dns() {
	[ -z "${dns_pid:-}" ] || { kill "$dns_pid"; wait "$dns_pid" 2>/dev/null || true; }
	bg "$DNSMASQ" --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --no-negcache \
		--port="$DNS_PORT" --listen-address=127.0.0.1 --bind-interfaces --pid-file= \
		--log-queries --log-facility="$TEST_TMP/dnsmasq.log" "$@"
	dns_pid=$BG_PID
	wait_port "$DNS_PORT"
}
logged() {
	grep -q "$1" "$TEST_TMP/daemon.log"
}
# The SRV queries dnsmasq has seen (all its runs).
queries() {
	grep -c "query\[SRV\] _pprof._tcp.fleet.test" "$TEST_TMP/dnsmasq.log" || true
}
queries_ge() {
	[ "$(queries)" -ge "$1" ]
}
log_count() {
	grep -c "$1" "$TEST_TMP/daemon.log" || true
}
active() {
	curl -sf "http://$LISTEN/api/v1/targets" |
		jq -r '[.targets[] | select(.active) | "\(.service) \(.url)"] | sort | join(",")'
}
sorted() {
	printf '%s\n' "$@" | sort | paste -sd, -
}
active_is() {
	[ "$(active)" = "$(sorted "$@")" ]
}

# The SRV record names "localhost", which the daemon's own resolver (the system's) turns into the zoo's address.
start_dns --local=/fleet.test/ --srv-host="_pprof._tcp.fleet.test,localhost,$a_port" \
	--host-record=web.fleet.test,127.0.0.1,::1
SRV="dns_sd '_pprof._tcp.fleet.test' (SRV)"

cat >"$CFG" <<EOF
listen: $LISTEN
database: $DB
scrape_interval: 1s
scrape_timeout: 1s
dns_sd:
  - names: [_pprof._tcp.fleet.test]
    service: alpha
    server: 127.0.0.1:$DNS_PORT
    refresh_interval: 1s
    labels: {team: dns}
  - names: [web.fleet.test]
    type: A
    port: $b_port
    service: beta
    server: 127.0.0.1:$DNS_PORT
    refresh_interval: 1s
  - names: [web.fleet.test]
    type: AAAA
    port: $b_port
    service: beta6
    server: 127.0.0.1:$DNS_PORT
    refresh_interval: 1s
services:
  - {name: alpha, detail_every: 0}
  - {name: beta, detail_every: 0}
  - {name: beta6, detail_every: 0}
EOF
"$LEAKPROFD_BIN" check-config "$CFG" >/dev/null || fail "check-config refused the dns_sd configuration"
start_daemon --config "$CFG"

# The first answers are waited for at start.
wait_for 20 logged "running: 3 targets"
assert_eq "targets at start" "$(active)" \
	"$(sorted "alpha http://localhost:$a_port" "beta $B" "beta6 http://[::1]:$b_port")"
wait_for 20 has_ok_scrapes "http://localhost:$a_port" 2
wait_for 20 has_ok_scrapes "$B" 2
assert_eq "alpha labels" "$(sq "SELECT labels FROM services WHERE name = 'alpha'")" \
	'{"service":"alpha","team":"dns"}'

# New records: a second SRV target, web.fleet.test moves to 127.0.0.2 and loses its AAAA record.
start_dns --local=/fleet.test/ --srv-host="_pprof._tcp.fleet.test,localhost,$a_port,0,10" \
	--srv-host="_pprof._tcp.fleet.test,127.0.0.1,$b_port,0,20" --host-record=web.fleet.test,127.0.0.2
wait_for 15 active_is "alpha http://localhost:$a_port" "alpha http://127.0.0.1:$b_port" \
	"beta http://127.0.0.2:$b_port"
logged "targets: discovered targets changed: 3 targets" || fail "the change was not logged"

# A dead server: every source keeps its list, the error is logged once per source, scraping goes on.
kill "$dns_pid"
wait "$dns_pid" 2>/dev/null || true
dns_pid=
wait_for 15 logged "$SRV: no answer from server 127.0.0.1:$DNS_PORT"
wait_for 15 logged "dns_sd 'web.fleet.test' (AAAA): no answer from server 127.0.0.1:$DNS_PORT"
na=$(ok_scrapes "http://localhost:$a_port")
wait_for 20 has_ok_scrapes "http://localhost:$a_port" $((na + 3))
assert_eq "no answer logged" "$(log_count "$SRV: .*no answer")" 1
assert_eq "targets while the server is down" "$(active)" \
	"$(sorted "alpha http://localhost:$a_port" "alpha http://127.0.0.1:$b_port" "beta http://127.0.0.2:$b_port")"

# A server that refuses (not authoritative for the zone, and no upstream): the lists stay, and as the resolver
# tells a refusal from silence no better than the error above, nothing new is logged.
start_dns --srv-host="_pprof._tcp.other.test,localhost,1"
q=$(queries)
wait_for 15 queries_ge $((q + 3))
assert_eq "no answer logged" "$(log_count "$SRV: .*no answer")" 1
assert_eq "targets while refused" "$(active)" \
	"$(sorted "alpha http://localhost:$a_port" "alpha http://127.0.0.1:$b_port" "beta http://127.0.0.2:$b_port")"

# Back to good records: followed again, and the recovery is logged.
start_dns --local=/fleet.test/ --srv-host="_pprof._tcp.fleet.test,localhost,$a_port" \
	--host-record=web.fleet.test,127.0.0.1,::1
wait_for 15 active_is "alpha http://localhost:$a_port" "beta $B" "beta6 http://[::1]:$b_port"
wait_for 10 logged "targets: $SRV: answering again (1 targets)"

# The records are gone (NXDOMAIN): the sources have no targets.
start_dns --local=/fleet.test/
wait_for 15 active_is ""
daemon_alive
stop_daemon
assert_eq "integrity" "$(sq 'PRAGMA integrity_check')" ok
echo "ok"
