#!/bin/sh
# deploy/debian/depends.sh BINARY: print the Depends: value for BINARY's shared libraries. With dpkg-dev,
# dpkg-shlibdeps gives versioned dependencies from the libraries' symbols files; without it, the packages that own
# the linked libraries, unversioned.
set -eu
bin=$1
abs=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
if command -v dpkg-shlibdeps >/dev/null 2>&1; then
	tmp=$(mktemp -d)
	mkdir "$tmp/debian"
	printf 'Source: leakprofd\n\nPackage: leakprofd\nArchitecture: any\n' > "$tmp/debian/control"
	out=$(cd "$tmp" && dpkg-shlibdeps -O "$abs" 2>/dev/null) || out=""
	rm -rf "$tmp"
	deps=${out#shlibs:Depends=}
	if [ -n "$deps" ]; then
		echo "$deps"
		exit 0
	fi
fi
ldd "$abs" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | while read -r lib; do
	dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null || true
done | cut -d: -f1 | sort -u | paste -sd, - | sed 's/,/, /g'
