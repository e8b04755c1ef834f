#!/bin/sh
# Installs the binaries the test suite talks to for real: ffmpeg/ffprobe (encoder and player),
# patch (reverses the NMS patch on a copy, test/ingest/nms-patch.test.ts), and Debian's
# `prometheus` package: its server (test/monitoring/prometheus.test.ts scrapes two edges with it)
# and its promtool (`promtool check metrics`, `check rules`, `test rules`), and nginx with the RTMP
# module (`nginx` + `libnginx-mod-rtmp`): test/hooks/nginx-rtmp.test.ts runs it as the foreign
# server whose hooks the edge answers; `redis-server`: the fleet tests (test/cluster/) start their own
# on free ports, kill and freeze it; and `chromium`, the real browser test/http/dashboard.test.ts
# drives through playwright-core (no browser download). Debian packages only.
# Idempotent; needs root (or sudo) only when something is missing.
set -e
missing=""
command -v ffmpeg >/dev/null 2>&1 || missing="$missing ffmpeg"
command -v ffprobe >/dev/null 2>&1 || missing="$missing ffmpeg"
command -v patch >/dev/null 2>&1 || missing="$missing patch"
# openssl makes the TLS tests' CA and certificates (test/helpers/pki.ts).
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
[ -x /usr/bin/chromium ] || missing="$missing chromium"
need_prometheus=""
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || need_prometheus=1
# Packages whose maintainer scripts start a system service (prometheus on :9090, nginx on :80, redis on :6379).
services=""
[ -n "$need_prometheus" ] && services="prometheus"
command -v redis-server >/dev/null 2>&1 || services="$services redis-server"
{ [ -x /usr/sbin/nginx ] && [ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ]; } || services="$services nginx libnginx-mod-rtmp"
[ -z "$missing" ] && [ -z "$services" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-test-deps: installing$missing $services" >&2
$SUDO apt-get update -qq
if [ -n "$missing" ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ -n "$services" ]; then
  # The packages' maintainer scripts enable and start a system Prometheus on :9090 and a system
  # nginx on :80. The tests never use them (each starts its own on free ports with its own
  # files), and stray servers on a test machine are unwanted: a policy-rc.d that answers 101
  # ("action forbidden") keeps invoke-rc.d and deb-systemd-invoke from starting them; on a
  # systemd host they are also disabled for later boots.
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=1
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 0755 /usr/sbin/policy-rc.d
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $services >/dev/null || status=$?
  [ -n "$policy" ] && $SUDO rm -f /usr/sbin/policy-rc.d
  [ -n "${status:-}" ] && exit "$status"
  if [ -d /run/systemd/system ]; then
    [ -n "$need_prometheus" ] && { $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true; }
    case "$services" in *nginx*) $SUDO systemctl disable --now nginx.service >/dev/null 2>&1 || true ;; esac
    case "$services" in *redis-server*) $SUDO systemctl disable --now redis-server.service >/dev/null 2>&1 || true ;; esac
  fi
fi
