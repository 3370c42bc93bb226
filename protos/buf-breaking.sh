#!/usr/bin/env bash
# `buf breaking` of the working tree's protos/ against an earlier commit, by default the previous
# commit of main (main~1, else origin/main~1), with the rules of protos/buf.yaml (WIRE_JSON).
#
# Offline and independent of how the old commit laid out its buf files: the old
# protos/modelregistry is taken with `git archive`, and built in a temporary directory with
# today's protos/buf.yaml and googleapis module (gitignored, so absent from every commit; that is
# why buf's own `.git#ref=...` input cannot build it). Works from a worktree and a full clone.
# When main has no previous commit here (its first commit, or a shallow clone) or an old commit
# has no contract yet, it says so and exits 0: there is nothing to compare with.
#
# Usage: protos/buf-breaking.sh [REVISION]     BUF=path/to/buf (default: buf on PATH)
# Needs protos/third_party/googleapis, which `make googleapis` fills.
set -euo pipefail
BUF=$(command -v "${BUF:-buf}") || {
    echo "buf breaking: ${BUF:-buf} not found" >&2
    exit 2
}
BUF=$(realpath "$BUF")
cd "$(dirname "$0")/.."

skip() {
    echo "buf breaking: skipped: $*"
    exit 0
}

git rev-parse --git-dir >/dev/null 2>&1 ||
    skip "not a git checkout, so there is no previous commit to compare with"

if [ $# -gt 0 ]; then
    against=$1
    if ! commit=$(git rev-parse --verify --quiet "$against^{commit}"); then
        echo "buf breaking: no commit $against in this clone" >&2
        exit 2
    fi
else
    base=
    for candidate in main origin/main; do
        if git rev-parse --verify --quiet "$candidate^{commit}" >/dev/null; then
            base=$candidate
            break
        fi
    done
    [ -n "$base" ] || skip "no branch main (or origin/main) in this clone to take the previous commit of"
    against="$base~1"
    if ! commit=$(git rev-parse --verify --quiet "$against^{commit}"); then
        if [ "$(git rev-parse --is-shallow-repository)" = true ]; then
            skip "$against is not in this shallow clone; fetch it (git fetch --deepen=1) to compare with it"
        fi
        skip "$base is its first commit: there is no previous commit to compare with"
    fi
fi
short=$(git rev-parse --short "$commit")

git cat-file -e "$commit:protos/modelregistry" 2>/dev/null ||
    skip "$against ($short) has no protos/modelregistry: no earlier contract to compare with"
[ -d protos/third_party/googleapis ] || {
    echo "buf breaking: protos/third_party/googleapis is missing; run \`make googleapis\`" >&2
    exit 2
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git archive "$commit" protos/modelregistry | tar -x -C "$tmp"
cp protos/buf.yaml "$tmp/protos/"
mkdir -p "$tmp/protos/third_party"
cp -R protos/third_party/googleapis "$tmp/protos/third_party/"

echo "buf breaking: protos/ against $against ($short)"
"$BUF" breaking protos --against "$tmp/protos"
