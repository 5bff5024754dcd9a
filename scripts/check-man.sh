#!/usr/bin/env bash
# The man page names every command and every option that `koorelease ... --help` lists, so it
# cannot fall behind the binary unnoticed (ctest runs this as man_page_covers_help).
#   bash scripts/check-man.sh build/bin/koorelease doc/koorelease.1
set -euo pipefail
bin=${1:?usage: check-man.sh KOORELEASE_BINARY MAN_PAGE}
page=${2:?usage: check-man.sh KOORELEASE_BINARY MAN_PAGE}

# The roff source with its escaped dashes made plain: "\-\-rate" -> "--rate".
text=$(sed 's/\\-/-/g' "$page")
commands=$("$bin" --help | sed -n '/^Subcommands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }')
[ -n "$commands" ] || { echo "check-man: no subcommands in '$bin --help'" >&2; exit 1; }

missing=()
for cmd in "" $commands; do
  [ -z "$cmd" ] || grep -qE "koorelease $cmd( |$)" <<<"$text" || missing+=("the command '$cmd'")
  # Long options, leaving out CLI11's negated aliases ("--track-ids{false}").
  for opt in $("$bin" $cmd --help | grep -oE -- '--[a-z0-9][a-z0-9-]*(\{)?' | grep -v '{$' | sort -u); do
    [ "$opt" = --help ] && continue
    grep -qE -- "${opt}([^a-z0-9-]|$)" <<<"$text" || missing+=("${cmd:-koorelease} $opt")
  done
done

if [ ${#missing[@]} -gt 0 ]; then
  for m in "${missing[@]}"; do echo "check-man: $m is not documented in $page" >&2; done
  exit 1
fi
echo "check-man: $page covers every command and option of $bin"
