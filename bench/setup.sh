#!/bin/sh
# Prepares the bench anchors and media. Idempotent; everything lands in bench/.vendor/ (gitignored).
#   1. A pristine node-media-server 4.4.3 (the project's node_modules copy is patched):
#      `npm pack` the published tarball, extract it, install its runtime dependencies there.
#   2. nginx with the RTMP module (Debian nginx + libnginx-mod-rtmp), via apt-get when missing
#      (needs root or sudo). If that fails the benches print a note and skip the nginx rows.
#   3. bench/.vendor/media.flv: 20 s of 640x360 testsrc, x264 ultrafast ~900 kbit/s, 2 s GOP,
#      AAC 64 kbit/s (~1 Mbit/s in all). Fan-out's ffmpeg publisher loops it with -c copy; the
#      Node publishers replay its tags.
set -e
cd "$(dirname "$0")"
VENDOR=.vendor
NMS_VERSION=4.4.3
mkdir -p "$VENDOR"

# ---- 1. pristine node-media-server
if [ ! -f "$VENDOR/nms/package.json" ] || [ ! -d "$VENDOR/nms/node_modules/express" ]; then
  echo "setup: fetching node-media-server@$NMS_VERSION (pristine)" >&2
  (cd "$VENDOR" && npm pack --silent "node-media-server@$NMS_VERSION" >/dev/null)
  rm -rf "$VENDOR/nms" "$VENDOR/package"
  tar -xzf "$VENDOR/node-media-server-$NMS_VERSION.tgz" -C "$VENDOR"
  mv "$VENDOR/package" "$VENDOR/nms"
  # Runtime dependencies only, no lifecycle scripts, no lock file written back into the project.
  (cd "$VENDOR/nms" && npm install --omit=dev --ignore-scripts --no-audit --no-fund --no-package-lock --silent)
fi
node -e 'const p=require("./.vendor/nms/package.json"); if (p.version !== process.argv[1]) { console.error("setup: bench/.vendor/nms is " + p.version); process.exit(1) }' "$NMS_VERSION"

# ---- 2. nginx + RTMP module
have_nginx_rtmp() {
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || return 1
  ls /usr/lib/nginx/modules/ngx_rtmp_module.so >/dev/null 2>&1 || return 1
}
if ! have_nginx_rtmp; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing nginx libnginx-mod-rtmp (apt-get)" >&2
  if $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nginx libnginx-mod-rtmp >/dev/null; then
    # Debian's package starts a system nginx on :80 where systemd/invoke-rc.d runs; the benches
    # start their own instances and need none of it. It is left as the package manager set it.
    :
  else
    echo "setup: nginx-rtmp could not be installed; the benches will skip the nginx rows" >&2
  fi
fi

# ---- 3. media
if [ ! -s "$VENDOR/media.flv" ]; then
  command -v ffmpeg >/dev/null 2>&1 || sh ../scripts/install-test-deps.sh
  echo "setup: encoding $VENDOR/media.flv (20 s, ~1 Mbit/s)" >&2
  ffmpeg -hide_banner -loglevel error -y \
    -f lavfi -i "testsrc=size=640x360:rate=25" \
    -f lavfi -i "sine=frequency=440:sample_rate=44100" \
    -t 20 \
    -c:v libx264 -preset ultrafast -tune zerolatency -pix_fmt yuv420p \
    -b:v 900k -maxrate 900k -bufsize 900k -g 50 -keyint_min 50 -sc_threshold 0 \
    -c:a aac -b:a 64k -ac 2 \
    -f flv "$VENDOR/media.flv.tmp"
  mv "$VENDOR/media.flv.tmp" "$VENDOR/media.flv"
fi
echo "setup: ok (nms $NMS_VERSION in bench/.vendor/nms, media bench/.vendor/media.flv$(have_nginx_rtmp && echo ', nginx-rtmp' || echo ', NO nginx-rtmp'))" >&2
