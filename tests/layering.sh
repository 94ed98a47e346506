#!/bin/sh
# tests/layering.sh LAYER...: the source folders follow the data flow, and a file includes only headers of its
# own folder or of folders named before it (foundations → collector → storage → detector → web → daemon).
# Reads the '#include "…"' lines of every .c and .h in the named folders; prints each include that points
# downstream or outside the layers, and exits 1 if there is any. Generated files (*.inc) are not layers.
set -eu
[ $# -gt 0 ] || { echo "usage: tests/layering.sh LAYER..." >&2; exit 2; }
cd "$(dirname "$0")/.."

order=$*
rank() {
	i=0
	for l in $order; do
		[ "$l" = "$1" ] && { echo $i; return; }
		i=$((i + 1))
	done
	echo -1
}

bad=0
checked=0
for dir in $order; do
	[ -d "$dir" ] || { echo "layering: folder '$dir' is named in LAYERS but does not exist" >&2; exit 1; }
	mine=$(rank "$dir")
	for f in "$dir"/*.c "$dir"/*.h; do
		[ -f "$f" ] || continue
		checked=$((checked + 1))
		# "folder/file.h" includes only; <system> headers are not ours.
		grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | while IFS= read -r line; do
			n=${line%%:*}
			inc=$(printf '%s\n' "$line" | sed 's/.*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/')
			case "$inc" in
			*.inc) continue ;;
			*/*) ;;
			*)
				echo "$f:$n: includes \"$inc\": name headers with their folder (\"$dir/$inc\")"
				continue
				;;
			esac
			top=${inc%%/*}
			theirs=$(rank "$top")
			if [ "$theirs" -lt 0 ]; then
				echo "$f:$n: includes \"$inc\": '$top' is not a source layer ($order)"
			elif [ "$theirs" -gt "$mine" ]; then
				echo "$f:$n: includes \"$inc\": '$dir' may include only itself and what comes before it ($order)"
			fi
		done
	done
done >"${TMPDIR:-/tmp}/layering.$$" 
if [ -s "${TMPDIR:-/tmp}/layering.$$" ]; then
	cat "${TMPDIR:-/tmp}/layering.$$" >&2
	bad=1
fi
rm -f "${TMPDIR:-/tmp}/layering.$$"
[ $bad -eq 0 ] || { echo "layering: FAILED" >&2; exit 1; }
echo "layering: $checked files in $order include only their own folder and those upstream"
