#!/bin/sh
# Installs the binaries the test suite talks to for real: ffmpeg/ffprobe (encoder and player),
# patch (reverses the NMS patch on a copy, test/ingest/nms-patch.test.ts) and promtool
# (`promtool check metrics`, test/metrics-promtool.test.ts). Debian packages only.
# Idempotent; needs root (or sudo) only when something is missing.
set -e
missing=""
command -v ffmpeg >/dev/null 2>&1 || missing="$missing ffmpeg"
command -v ffprobe >/dev/null 2>&1 || missing="$missing ffmpeg"
command -v patch >/dev/null 2>&1 || missing="$missing patch"
# openssl makes the TLS tests' CA and certificates (test/helpers/pki.ts).
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
need_promtool=""
command -v promtool >/dev/null 2>&1 || need_promtool=1
[ -z "$missing" ] && [ -z "$need_promtool" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-test-deps: installing$missing${need_promtool:+ promtool}" >&2
$SUDO apt-get update -qq
if [ -n "$missing" ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ -n "$need_promtool" ]; then
  # promtool ships only in Debian's `prometheus` package, whose install also enables (and on a
  # systemd host starts) a Prometheus server. Only the static promtool binary is taken from it.
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download -qq prometheus >/dev/null && dpkg-deb -x prometheus_*.deb root)
  $SUDO install -m 0755 "$tmp/root/usr/bin/promtool" /usr/local/bin/promtool
fi
