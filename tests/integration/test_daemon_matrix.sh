#!/bin/sh
# test_daemon_matrix.sh: one daemon scrapes the zoo built by every toolchain of the matrix (LEAKPROFD_GO_BINS:
# Go 1.19, 1.26, 1.26 with GOEXPERIMENT=goroutineleakprofile, 1.27) and ranks each one's leaks alike. Every zoo
# leaks in three patterns at 3 goroutines a second (under pprof labels, which Go 1.27 prints in debug=2 headers)
# next to an idle pool and sleepers, and is scraped as debug=2 every second: each service's suspects are exactly
# the three leaking locations, at the file:line and op /expected gives, none confirmed, and the same list as Go
# 1.19's. Where the zoo serves the goroutineleak profile, a second zoo of that build is scraped through it: its
# suspects are the two patterns Go's leak detection proves (the goroutines on a Mutex a package variable holds
# never show there), both confirmed.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
for t in curl jq sqlite3; do command -v $t >/dev/null || skip "$t is not installed"; done
DB=$TEST_TMP/leakprofd.db
bins=${LEAKPROFD_GO_BINS:-}
[ -n "$bins" ] || skip "LEAKPROFD_GO_BINS names no toolchain folders (make exports them)"
gobin=$LEAKPROFD_GO_BIN

cat >"$TEST_TMP/leakprofd.yaml" <<EOF
listen: $(free_listen)
database: $DB
scrape_interval: 1s
scrape_timeout: 1s
detector:
  min_scrapes: 4
services:
EOF
# zoo NAME DIR: start DIR/zoo as NAME (start_go: its port in $NAME_port); add it to the configuration as the
# service SERVICE with the YAML lines EXTRA (keys of the service, indented by four spaces).
zoo() {
	LEAKPROFD_GO_BIN=$2
	start_go "$1" zoo -leak early_return,waitgroup,mutex -leak-count 10 -leak-rate 3 -benign pool,sleep \
		-pool-size 40 -sleepers 12 -sleep-interval 1h
	LEAKPROFD_GO_BIN=$gobin
	port=$(cat "$TEST_TMP/$1.port")
	curl -sf "http://127.0.0.1:$port/expected" >"$TEST_TMP/$3.expected" || fail "$3: GET /expected"
	printf '  - name: %s\n    targets: ["http://127.0.0.1:%s"]\n    %s\n' "$3" "$port" "$4" \
		>>"$TEST_TMP/leakprofd.yaml"
	echo "http://127.0.0.1:$port" >"$TEST_TMP/$3.url"
	services="$services $3"
}
services=
i=0
for dir in $bins; do
	t=$(basename "$dir")
	# the goroutine profile alone, to rank alike (the leak profile next to it: test_daemon_leakprofile.sh)
	zoo "g$i" "$dir" "$t" "format: debug=2
    leak_profile: {enabled: false}"
	if [ "$(jq -r .goroutineleak "$TEST_TMP/$t.expected")" = true ]; then
		zoo "l$i" "$dir" "$t-leak" "profile: goroutineleak"
	fi
	i=$((i + 1))
done
case $services in " go1.19 "*) ;; *) fail "the matrix does not start with go1.19: $bins" ;; esac

start_daemon --config "$TEST_TMP/leakprofd.yaml"
for s in $services; do
	wait_for 40 has_ok_scrapes "$(cat "$TEST_TMP/$s.url")" 8
done
daemon_alive
assert_eq "targets not ok" "$(sq "SELECT count(*) FROM targets WHERE last_status <> 'ok'")" 0

# suspects SERVICE: "function file:line op confirmed" per suspect, sorted.
suspects() {
	"$LEAKPROFD_BIN" suspects --db "$DB" --service "$1" --window 1h --json >"$TEST_TMP/$1.suspects" ||
		fail "$1: leakprofd suspects failed"
	jq -r '.suspects[] | "\(.function) \(.file):\(.line) \(.op) \(.confirmed)"' "$TEST_TMP/$1.suspects" | sort
}
# want SERVICE OPFIELD CONFIRMED [leaked]: the same from /expected: every leak pattern's location (with 'leaked',
# only those Go's leak detection reports).
want() {
	jq -r --arg op "$2" --arg c "$3" --arg only "${4:-}" '.locations[] | select(.kind == "leak")
	    | select($only == "" or .leaked) | "\(.function) \(.file):\(.line) \(.[$op]) \($c)"' \
		"$TEST_TMP/$1.expected" | sort
}
suspects go1.19 >"$TEST_TMP/go1.19.got"
for s in $services; do
	case $s in
	*-leak) want "$s" op_proto true leaked >"$TEST_TMP/$s.want"; n=2 ;;
	*) want "$s" op_debug2 false >"$TEST_TMP/$s.want"; n=3 ;;
	esac
	suspects "$s" >"$TEST_TMP/$s.got"
	[ "$(wc -l <"$TEST_TMP/$s.want")" -eq $n ] || fail "$s: /expected lists $(cat "$TEST_TMP/$s.want")"
	cmp -s "$TEST_TMP/$s.want" "$TEST_TMP/$s.got" || fail "$s: suspects differ from the zoo's leaks:
$(diff "$TEST_TMP/$s.want" "$TEST_TMP/$s.got")"
	case $s in
	*-leak) ;;
	*) cmp -s "$TEST_TMP/go1.19.got" "$TEST_TMP/$s.got" || fail "$s ranks otherwise than go1.19:
$(diff "$TEST_TMP/go1.19.got" "$TEST_TMP/$s.got")" ;;
	esac
	echo "$s: $(jq -c '[.suspects[] | "\(.rank) \(.function):\(.line) \(.op)\(if .confirmed then " (confirmed)"
	    else "" end)"]' "$TEST_TMP/$s.suspects")"
	# pprof labels: each suspect's top set is its pattern's (the zoo runs each pattern under pprof.Do), and it
	# grew, where the format carries labels (Go 1.27's debug=2 headers, the leak profile's debug=0); Go 1.19's
	# and 1.26's debug=2 dumps carry none. --label keeps the one suspect of that pattern.
	case $s in go1.27 | *-leak) labelled=true ;; *) labelled=false ;; esac
	jq -r --argjson l $labelled '.suspects[] | "\(.function) \(if $l then .labels[0].set.pattern + " "
	    + .labels[0].set.handler + " \(.labels[0].growth > 0)" else .labels | length end)"' \
		"$TEST_TMP/$s.suspects" | sort >"$TEST_TMP/$s.labels"
	case $s in *-leak) only=leaked ;; *) only= ;; esac
	jq -r --argjson l $labelled --arg only "$only" '.locations[] | select(.kind == "leak")
	    | select($only == "" or .leaked) | "\(.function) \(if $l then .pattern + " GET /" + .pattern + " true"
	    else 0 end)"' "$TEST_TMP/$s.expected" | sort >"$TEST_TMP/$s.labels.want"
	cmp -s "$TEST_TMP/$s.labels.want" "$TEST_TMP/$s.labels" || fail "$s: label sets differ:
$(diff "$TEST_TMP/$s.labels.want" "$TEST_TMP/$s.labels")"
	"$LEAKPROFD_BIN" suspects --db "$DB" --service "$s" --window 1h --json --label pattern=waitgroup \
		>"$TEST_TMP/$s.filtered" || fail "$s: leakprofd suspects --label failed"
	assert_eq "$s: suspects carrying pattern=waitgroup" \
		"$(jq -r '[.suspects[] | .function] | join(" ")' "$TEST_TMP/$s.filtered")" \
		"$(if $labelled; then jq -r '[.locations[] | select(.pattern == "waitgroup") | .function] | join(" ")' \
			"$TEST_TMP/$s.expected"; fi)"
done
echo "label sets:$(for s in $services; do printf ' %s' "$s=$(jq -c '[.suspects[0].labels[0] | .set, .count, .growth]' \
	"$TEST_TMP/$s.suspects")"; done)"
stop_daemon TERM
assert_eq "integrity" "$(sq 'PRAGMA integrity_check')" ok
echo "the daemon ranks the zoo's leaks alike for:$services"
