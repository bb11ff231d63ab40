#!/usr/bin/env bash
# The project's docs stand on their own: no file in the repository sends a reader to
# the design page the project was first built from (it is not in the repository),
# and every relative link in README.md and docs/*.md names a file that exists and,
# after '#', a heading that file has (GitHub's anchor rule: lower case, punctuation
# dropped, spaces to '-').
#
# Usage: docs_stand_alone.sh SOURCE_DIR
set -euo pipefail
cd "$1"
failed=0
tmp_failures=$(mktemp)
trap 'rm -f "$tmp_failures"' EXIT

# The project's files: tracked ones in a git checkout, else all but build trees.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  files() { git ls-files -z; }
else
  files() { find . -path './build*' -prune -o -type f -print0; }
fi
refs=$(files | xargs -0 grep -nE 'DESIGN(\.md| §)' -- 2>/dev/null |
       grep -v 'test/docs/docs_stand_alone.sh:' || true)
if [ -n "$refs" ]; then
  echo "docs_stand_alone: these cite the design page, which is not in the repository:"
  echo "$refs" | sed 's/^/  /'
  failed=1
fi

# GitHub's anchor of a heading line ("## 13. Admin endpoint" -> "13-admin-endpoint").
anchors_of() {
  grep -E '^#{1,6} ' "$1" | sed -E 's/^#+ +//' | tr '[:upper:]' '[:lower:]' |
    sed -E 's/[^a-z0-9 _-]//g; s/ /-/g'
}

for doc in README.md docs/*.md; do
  folder=$(dirname "$doc")
  # ](target) links, not web ones.
  { grep -oE '\]\([^) ]+\)' "$doc" || true; } | sed -E 's/^\]\((.*)\)$/\1/' |
    { grep -vE '^(https?|mailto|file):' || true; } | sort -u |
    while read -r link; do
      path=${link%%#*}
      anchor=""
      [[ "$link" == *"#"* ]] && anchor=${link#*#}
      target="$doc"
      if [ -n "$path" ]; then
        target="$folder/$path"
        if [ ! -e "$target" ]; then
          echo "docs_stand_alone: $doc links to $link: no such file"
          echo x >> "$tmp_failures"
          continue
        fi
      fi
      if [ -n "$anchor" ] && [[ "$target" == *.md ]] &&
         ! anchors_of "$target" | grep -qxF "$anchor"; then
        echo "docs_stand_alone: $doc links to $link: $target has no heading for #$anchor"
        echo x >> "$tmp_failures"
      fi
    done
done
[ -s "$tmp_failures" ] && failed=1
[ $failed -eq 0 ] && echo "docs_stand_alone: no design-page citation; every relative link resolves"
exit $failed
