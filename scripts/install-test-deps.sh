#!/bin/sh
# Installs the binaries the test suite talks to for real: ffmpeg/ffprobe (encoder and player),
# patch (reverses the NMS patch on a copy, test/ingest/nms-patch.test.ts).
# Idempotent; needs root (or sudo) only when something is missing.
set -e
missing=""
command -v ffmpeg >/dev/null 2>&1 || missing="$missing ffmpeg"
command -v ffprobe >/dev/null 2>&1 || missing="$missing ffmpeg"
command -v patch >/dev/null 2>&1 || missing="$missing patch"
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-test-deps: installing$missing" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
