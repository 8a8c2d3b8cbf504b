#!/usr/bin/env bash
# A weekly refresh: add this week's drop, rebuild the release, report, diff, gate.
#
#   refresh.sh DROP STATE [EVALS]
#
# DROP   a folder of JSON Lines files (.jsonl or .jsonl.gz) received this week
# STATE  the job's persistent folder (kept between runs, e.g. a cache or volume in CI):
#        drops/ (every drop so far), minhash-index/, work/, release/ (the published release,
#        with report.html and report.json), previous/ (last week's release) and diff.json
# EVALS  folder with manual_quiz.jsonl (default: ../evals beside this script)
#
# Exit codes: 0 published; 1 a run failure or a failing gate ("gate failed: ..."; the previous
# release stays in place, work/report.html says why); 2 usage or config error.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 DROP STATE [EVALS]" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
drop=$(cd "$1" && pwd)
mkdir -p "$2"
state=$(cd "$2" && pwd)
evals=$(cd "${3:-$here/../evals}" && pwd)
curate=${CURATE:-curate}
week=${WEEK:-$(basename "$drop")}

# 1. the new drop joins the earlier ones (hard links where possible; a drop is never changed)
mkdir -p "$state/drops/$week"
cp -l "$drop"/* "$state/drops/$week/" 2>/dev/null || cp "$drop"/* "$state/drops/$week/"

# 2. the pipeline, with this job's paths
sed -e "s#@STATE@#$state#g" -e "s#@EVALS@#$evals#g" "$here/refresh.yaml" > "$state/refresh.yaml"

# 3. keep last week's release to diff against (hard links: no copy)
rm -rf "$state/previous"
if [ -f "$state/release/_manifest.json" ]; then
  cp -al "$state/release" "$state/previous"
fi

# 4. run: dedup against the index of earlier releases, decontaminate, score, filter, PII, tokens,
#    export; the report is written and the gates checked before the release is published
"$curate" run "$state/refresh.yaml" --quiet

# 5. what changed since last week (the report has the same figures in its "changes" section)
if [ -d "$state/previous" ]; then
  "$curate" diff "$state/previous" "$state/release" --json > "$state/diff.json"
  "$curate" diff "$state/previous" "$state/release"
fi
echo "report: $state/release/report.html"
