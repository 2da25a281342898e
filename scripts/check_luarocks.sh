#!/usr/bin/env bash
# `make check-luarocks`: runs README's LuaRocks lines as written (the sh block
# after the line `<!-- make check-luarocks runs this block -->`), with the
# tree ./lua_modules swapped for a temporary directory, in the project root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

marker='<!-- make check-luarocks runs this block -->'
# The fenced block that follows the marker, without its fences.
block=$(awk -v marker="$marker" '
  $0 == marker { found = 1; next }
  found && /^```/ { if (inside) exit; inside = 1; next }
  inside { print }
' README.md)
if [ -z "$block" ]; then
  echo "check-luarocks: no sh block after '$marker' in README.md" >&2
  exit 1
fi
grep -q -- '--tree \./lua_modules' <<<"$block" ||
  { echo "check-luarocks: README's block names no '--tree ./lua_modules'" >&2; exit 1; }

tree=$(mktemp -d "${TMPDIR:-/tmp}/scalekit-rocks.XXXXXX")
# `luarocks make` builds in place: its objects and scalekit/core.so go too.
trap 'rm -rf "$tree" scalekit; rm -f src/*.o' EXIT
script=${block//.\/lua_modules/$tree}
printf 'check-luarocks: running README.md'"'"'s lines with ./lua_modules = %s\n%s\n' "$tree" "$script"
# A clean environment for LuaRocks: only what the block itself sets.
env -u LUAROCKS_CONFIG -u LUA_PATH -u LUA_CPATH bash -euo pipefail -c "$script"
echo "check-luarocks: ok"
