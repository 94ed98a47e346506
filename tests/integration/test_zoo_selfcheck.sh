#!/bin/sh
# test_zoo_selfcheck.sh: the zoo's /expected must match what Go itself prints, for the zoo built by every
# toolchain of the matrix (LEAKPROFD_GO_BINS; else LEAKPROFD_GO_BIN alone). Every leak pattern (distinct counts) and
# the fixed-size benign groups run in one zoo; its debug=2 and debug=1 goroutine dumps, and its debug=0 profile as
# decoded by `go tool pprof -raw`, are reduced with awk to counts per first frame outside GOROOT (and wait reason,
# for debug=2) and compared with /expected, which every other test trusts as ground truth. Where the zoo serves
# the goroutineleak profile, its debug=1 form must list exactly the locations /expected calls leaked, each with
# all of its goroutines. Independent of leakprofd.
. "$(dirname "$0")/../lib.sh"
command -v jq >/dev/null || fail "jq is missing"
command -v "${LEAKPROFD_GO:-go}" >/dev/null || fail "${LEAKPROFD_GO:-go} is missing (golang-1.19-go): needed to decode the proto profile independently"

# selfcheck DIR: the checks against DIR/zoo.
selfcheck() {
	zoo=$1/zoo
	[ -x "$zoo" ] || fail "$zoo is missing: run 'make go'"
	counts=early_return=3,timeout=5,ncast=7,range_unclosed=9,nil_send=11,nil_recv=13,select_forever=15
	counts=$counts,waitgroup=17,mutex=19,rwmutex=21,cond=23,global_chan=25
	rm -f "$TEST_TMP/port"
	bg "$zoo" -portfile "$TEST_TMP/port" -leak "$counts" -benign pool,sleep -pool-size 29 -sleepers 27 \
		-sleep-interval 1h
	wait_for 20 test -s "$TEST_TMP/port"
	base=http://127.0.0.1:$(cat "$TEST_TMP/port")
	wait_for 20 sh -c "curl -sf '$base/expected' | jq -e .settled"
	curl -sf "$base/expected" >"$TEST_TMP/expected.json" || fail "GET /expected"
	curl -sf "$base/debug/pprof/goroutine?debug=2" >"$TEST_TMP/d2.txt" || fail "GET debug=2"
	curl -sf "$base/debug/pprof/goroutine?debug=1" >"$TEST_TMP/d1.txt" || fail "GET debug=1"
	curl -sf "$base/debug/pprof/goroutine?debug=0" >"$TEST_TMP/d0.pb.gz" || fail "GET debug=0"
	curl -sf "$base/expected" >"$TEST_TMP/expected2.json" || fail "GET /expected"
	cmp -s "$TEST_TMP/expected.json" "$TEST_TMP/expected2.json" || fail "/expected changed while profiling"

	goroot=$(jq -r .goroot "$TEST_TMP/expected.json")
	# "wait_reason<TAB>function<TAB>file:line<TAB>count" for every exact location of /expected.
	jq -r '.locations[] | select(.exact) | "\(.wait_reason)\t\(.function)\t\(.file):\(.line)\t\(.count)"' \
		"$TEST_TMP/expected.json" | sort >"$TEST_TMP/want2"
	[ "$(wc -l <"$TEST_TMP/want2")" -eq 14 ] || fail "expected 14 exact locations, got: $(cat "$TEST_TMP/want2")"

	# debug=2: per record, the header's reason and the first frame whose file is outside GOROOT.
	awk -v goroot="$goroot/" '
	/^goroutine [0-9]+ \[/ { s = $0; sub(/^goroutine [0-9]+ \[/, "", s); s = substr(s, 1, index(s, "]") - 1);
		n = split(s, parts, ", "); reason = parts[1]; fn = ""; found = 0; next }
	/^\t/ { if (!found && fn != "" && index($1, goroot) != 1) { loc = $1; sub(/ \+0x[0-9a-f]+$/, "", loc);
		key = reason "\t" fn "\t" loc; cnt[key]++; found = 1 } next }
	/^created by / { next }
	/./ { f = $0; sub(/\([^(]*\)$/, "", f); fn = f }
	END { for (k in cnt) print k "\t" cnt[k] }' "$TEST_TMP/d2.txt" | sort >"$TEST_TMP/got2.all"
	while IFS="$(printf '\t')" read -r reason fn loc count; do
		got=$(awk -F '\t' -v r="$reason" -v f="$fn" -v l="$loc" '$1 == r && $2 == f && $3 == l { print $4 }' \
			"$TEST_TMP/got2.all")
		assert_eq "debug=2 [$reason] $fn $loc" "${got:-0}" "$count"
	done <"$TEST_TMP/want2"

	# debug=1: per record, the first frame outside GOROOT, weighted by the record's count.
	awk -v goroot="$goroot/" '
	/^[0-9]+ @ / { n = $1; found = 0; next }
	/^#\t0x/ { if (!found && NF >= 4 && index($4, goroot) != 1) { f = $3; sub(/\+0x[0-9a-f]+$/, "", f);
		cnt[f "\t" $4] += n; found = 1 } next }
	END { for (k in cnt) print k "\t" cnt[k] }' "$TEST_TMP/d1.txt" | sort >"$TEST_TMP/got1.all"
	while IFS="$(printf '\t')" read -r reason fn loc count; do
		got=$(awk -F '\t' -v f="$fn" -v l="$loc" '$1 == f && $2 == l { print $3 }' "$TEST_TMP/got1.all")
		assert_eq "debug=1 $fn $loc" "${got:-0}" "$count"
	done <"$TEST_TMP/want2"

	# debug=0: `go tool pprof -raw` lists samples ("COUNT: LOCID ...", leaf first), then locations ("ID: 0xPC M=1
	# FUNC FILE:LINE s=0" and one more "FUNC FILE:LINE s=0" line per inlined caller, innermost first).
	HOME=$TEST_TMP "${LEAKPROFD_GO:-go}" tool pprof -raw "$TEST_TMP/d0.pb.gz" >"$TEST_TMP/d0.raw" 2>"$TEST_TMP/d0.err" ||
		fail "go tool pprof -raw: $(cat "$TEST_TMP/d0.err")"
	awk -v goroot="$goroot/" '
	/^Samples:/ { sec = "s"; next }
	/^Locations/ { sec = "l"; next }
	/^Mappings/ { sec = "" }
	sec == "s" && /^ *[0-9]+: / { ns++; scount[ns] = $1 + 0; sids[ns] = ""; for (i = 2; i <= NF; i++) sids[ns] = sids[ns] " " $i; next }
	sec == "l" && /^ *[0-9]+: 0x/ { id = $1; sub(/:$/, "", id); f = $4; l = $5; take(id, f, l); next }
	sec == "l" && NF == 3 { take(id, $1, $2); next }
	function take(id, f, l) { if (!(id in first) && index(l, goroot) != 1) first[id] = f "\t" l }
	END { for (s = 1; s <= ns; s++) { n = split(sids[s], ids, " ");
		for (i = 1; i <= n; i++) if (ids[i] in first) { cnt[first[ids[i]]] += scount[s]; break } }
		for (k in cnt) print k "\t" cnt[k] }' "$TEST_TMP/d0.raw" | sort >"$TEST_TMP/got0.all"
	while IFS="$(printf '\t')" read -r reason fn loc count; do
		got=$(awk -F '\t' -v f="$fn" -v l="$loc" '$1 == f && $2 == l { print $3 }' "$TEST_TMP/got0.all")
		assert_eq "debug=0 $fn $loc" "${got:-0}" "$count"
	done <"$TEST_TMP/want2"

	# goroutineleak (Go 1.26 with GOEXPERIMENT=goroutineleakprofile, Go 1.27): debug=1 per first frame outside GOROOT,
	# after the goroutine profiles above (leak detection marks goroutines for good).
	leakprof=$(jq -r .goroutineleak "$TEST_TMP/expected.json")
	if [ "$leakprof" = true ]; then
		curl -sf "$base/debug/pprof/goroutineleak?debug=1" >"$TEST_TMP/l1.txt" || fail "GET goroutineleak debug=1"
		head -n 1 "$TEST_TMP/l1.txt" | grep -q '^goroutineleak profile: total ' ||
			fail "goroutineleak debug=1 header: $(head -n 1 "$TEST_TMP/l1.txt")"
		awk -v goroot="$goroot/" '
		/^[0-9]+ @ / { n = $1; found = 0; next }
		/^#\t0x/ { if (!found && NF >= 4 && index($4, goroot) != 1) { f = $3; sub(/\+0x[0-9a-f]+$/, "", f);
			cnt[f "\t" $4] += n; found = 1 } next }
		END { for (k in cnt) print k "\t" cnt[k] }' "$TEST_TMP/l1.txt" | sort >"$TEST_TMP/gotl.all"
		jq -r '.locations[] | select(.exact and .leaked) | "\(.function)\t\(.file):\(.line)\t\(.count)"' \
			"$TEST_TMP/expected.json" | sort >"$TEST_TMP/wantl"
		[ "$(wc -l <"$TEST_TMP/wantl")" -eq 9 ] || fail "expected 9 leaked locations, got: $(cat "$TEST_TMP/wantl")"
		cmp -s "$TEST_TMP/wantl" "$TEST_TMP/gotl.all" ||
			fail "goroutineleak debug=1 differs from /expected's leaked locations: $(diff "$TEST_TMP/wantl" \
				"$TEST_TMP/gotl.all")"
		total=$(sed -n '1s/^goroutineleak profile: total //p' "$TEST_TMP/l1.txt")
		assert_eq "goroutineleak total" "$total" "$(awk -F '\t' '{ n += $3 } END { print n }' "$TEST_TMP/wantl")"
	fi
	kill "$BG_PID"
	echo "$(jq -r .go_version "$TEST_TMP/expected.json"): zoo /expected matches Go's own debug=2, debug=1 and debug=0" \
		"profiles at 14 locations$([ "$leakprof" = true ] && echo ", and its goroutineleak profile at 9")"
}

for dir in ${LEAKPROFD_GO_BINS:-$LEAKPROFD_GO_BIN}; do
	selfcheck "$dir"
done
