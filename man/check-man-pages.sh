#!/usr/bin/env bash
# Renders each man page as `man -l` does, 80 columns wide, and fails on any groff
# warning, a missing section or NAME line, or help2man's placeholder NAME.
# Usage: man/check-man-pages.sh PAGE.1...   (ctest: ManPages.RenderWithoutWarnings)
set -euo pipefail

sections=(NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" "SEE ALSO")
failed=0
fail() { echo "$1: $2" >&2; failed=1; }

for page in "$@"; do
  name=$(basename "$page" .1)
  if [ ! -f "$page" ]; then
    fail "$name" "$page is missing (build the man-pages target)"
    continue
  fi
  err=$(mktemp)
  # --warnings=w: every groff warning; -P cat: no pager.
  text=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings=w -P cat -l "$page" 2>"$err") ||
    fail "$name" "man -l exited with status $?"
  if [ -s "$err" ]; then
    fail "$name" "man -l printed warnings:"
    sed 's/^/  /' "$err" >&2
  fi
  rm -f "$err"
  for section in "${sections[@]}"; do
    grep -qx "$section" <<<"$text" || fail "$name" "no $section section"
  done
  # The NAME line: "PAGE - what it does", not help2man's "manual page for PAGE".
  name_line=$(grep -A1 -x NAME <<<"$text" | tail -n 1)
  [[ $name_line =~ ^\ +$name\ -\ [^[:space:]] ]] || fail "$name" "NAME line is '$name_line'"
  [[ $name_line == *"manual page for"* ]] && fail "$name" "NAME line is help2man's placeholder"
done
[ $failed -eq 0 ] && echo "man pages render without warnings: $*"
exit $failed
