#!/usr/bin/env bash
# Prepares a Debian 12 machine (no GPU needed) to build and test lowrank-smc:
#   - Mesa 25 lavapipe (software Vulkan) from bookworm-backports: Dawn rejects Debian 12's own Mesa 22;
#   - Mesa EGL/GLES (the engine's OpenGL ES fallback) and Chromium (real-browser tests);
#   - redis-server (the job queue of `lowrank-smc sweep` / `worker`, and the sweep tests, which start
#     their own server on a loopback port); its system service, if one runs, must listen on loopback only;
#   - npm ci, npm run build, and a check that the engine finds an adapter.
# Idempotent: packages already at the right versions and an unchanged lockfile are skipped.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BACKPORTS_FILE=/etc/apt/sources.list.d/lowrank-smc-backports
MESA_MIN_VERSION=25

step() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  SUDO=()
fi
as_root() {
  if [ "$(id -u)" -ne 0 ] && [ ${#SUDO[@]} -eq 0 ]; then
    die "need root (or sudo) to run: $*"
  fi
  "${SUDO[@]}" "$@"
}

installed_version() { dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null | awk '$3 == "installed" { print $4 }'; }

# --- system packages --------------------------------------------------------------------------------

codename=""
if [ -r /etc/os-release ]; then codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}"); fi

mesa_ok() {
  local v
  v=$(installed_version mesa-vulkan-drivers)
  [ -n "$v" ] && dpkg --compare-versions "$v" ge "$MESA_MIN_VERSION"
}

# Mesa packages that must come from the same release as the Vulkan driver.
MESA_PACKAGES=(mesa-vulkan-drivers libvulkan1 libegl1 libgles2 libegl-mesa0)
OTHER_PACKAGES=(chromium redis-server)

missing=()
mesa_ok || missing+=(mesa-vulkan-drivers)
for p in "${MESA_PACKAGES[@]:1}" "${OTHER_PACKAGES[@]}"; do
  [ -n "$(installed_version "$p")" ] || missing+=("$p")
done

# The backports suite is derived from the machine's own Debian source so that no mirror is hard-coded.
write_backports_source() {
  local suite="$codename-backports" content target
  if grep -rqs --include="*.list" --include="*.sources" --exclude="$(basename "$BACKPORTS_FILE").*" "^[^#]*$suite" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    return 0 # already configured by someone else
  fi
  if [ -r /etc/apt/sources.list.d/debian.sources ]; then
    # deb822: first stanza (up to the first blank line), with its Suites: line replaced.
    content=$(awk -v suite="$suite" '
      /^[[:space:]]*$/ { if (seen) exit; next }
      { seen = 1 }
      /^Suites:/ { print "Suites: " suite; next }
      { print }' /etc/apt/sources.list.d/debian.sources)
    target="$BACKPORTS_FILE.sources"
    printf '%s\n' "$content" | grep -q '^Suites:' || die "no Suites: line in the first stanza of /etc/apt/sources.list.d/debian.sources"
  elif [ -r /etc/apt/sources.list ]; then
    # One-line format: the first "deb" line, with its suite field replaced.
    content=$(awk -v suite="$suite" '
      $1 == "deb" {
        i = 2
        if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }  # skip [options]
        $(i + 1) = suite
        print
        exit
      }' /etc/apt/sources.list)
    target="$BACKPORTS_FILE.list"
    [ -n "$content" ] || die "no 'deb' line in /etc/apt/sources.list to derive $suite from"
  else
    die "no Debian apt source found (/etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list)"
  fi
  if [ "$(cat "$target" 2>/dev/null)" != "$content" ]; then
    printf '%s\n' "$content" | as_root tee "$target" >/dev/null
    step "added apt source $target ($suite)"
  fi
}

apt_install() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/tmp/lowrank-smc-apt.log 2>&1 \
    || { tail -n 30 /tmp/lowrank-smc-apt.log >&2; die "apt-get install $* failed (log: /tmp/lowrank-smc-apt.log)"; }
}

if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install ${missing[*]} by hand (Mesa >= $MESA_MIN_VERSION)"
  step "installing system packages (missing or too old: ${missing[*]})"
  target_release=()
  if [ "$codename" = bookworm ]; then
    write_backports_source
    target_release=(-t bookworm-backports)
  fi
  as_root apt-get update -qq >/tmp/lowrank-smc-apt.log 2>&1 \
    || { tail -n 30 /tmp/lowrank-smc-apt.log >&2; die "apt-get update failed (log: /tmp/lowrank-smc-apt.log)"; }
  apt_install "${target_release[@]}" "${MESA_PACKAGES[@]}"
  # Chromium and redis-server come from the normal suites; Chromium reuses the Mesa libraries installed above.
  apt_install "${OTHER_PACKAGES[@]}"
  mesa_ok || die "mesa-vulkan-drivers is $(installed_version mesa-vulkan-drivers), need >= $MESA_MIN_VERSION (lavapipe in older Mesa is rejected by Dawn)"
fi
step "system: mesa-vulkan-drivers $(installed_version mesa-vulkan-drivers), libvulkan1 $(installed_version libvulkan1), chromium $(installed_version chromium), redis-server $(installed_version redis-server)"

# Debian's packaged Redis (a system service where systemd runs) listens on loopback with protected mode;
# refuse to leave it otherwise: a queue server reachable from the network without TLS and a password
# would run anyone's jobs. scripts/sweep-local.sh starts its own server on 127.0.0.1 in any case.
REDIS_CONF=/etc/redis/redis.conf
if [ -r "$REDIS_CONF" ]; then
  bind_line=$(grep -E '^[[:space:]]*bind[[:space:]]' "$REDIS_CONF" | tail -n 1 || true)
  if [ -z "$bind_line" ] || printf '%s\n' "$bind_line" | awk '{ for (i = 2; i <= NF; i++) print $i }' | grep -qvE '^-?(127\.0\.0\.1|::1|localhost)$'; then
    die "$REDIS_CONF does not bind Redis to loopback only (${bind_line:-no bind line}); set 'bind 127.0.0.1 -::1' or secure it (TLS, requirepass/ACL) before running setup"
  fi
  step "system Redis listens on loopback only ($bind_line)"
fi

# --- node packages and build ---------------------------------------------------------------------

command -v node >/dev/null 2>&1 || die "node not found (need Node >= 20)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node $(node --version) is too old (need >= 20)"

# A stamp of the lockfile lets repeated runs skip npm ci (which would delete node_modules).
lock_stamp=node_modules/.lowrank-smc-lock.sha256
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$lock_stamp" 2>/dev/null)" = "$lock_hash" ]; then
  step "node_modules matches package-lock.json"
elif [ -d node_modules ] && [ ! -e "$lock_stamp" ] && npm ls --all >/dev/null 2>&1; then
  # Installed by hand before this script existed, and consistent: adopt it.
  echo "$lock_hash" >"$lock_stamp"
  step "node_modules is consistent with package.json"
else
  step "npm ci"
  # The lockfile lists the optional packages of every platform (test/lockfile.test.ts), so npm ci takes it.
  npm ci --no-audit --no-fund --loglevel=error >/tmp/lowrank-smc-npm.log 2>&1 \
    || { tail -n 30 /tmp/lowrank-smc-npm.log >&2; die "npm ci failed (log: /tmp/lowrank-smc-npm.log)"; }
  echo "$lock_hash" >"$lock_stamp"
fi

step "npm run build"
npm run build --silent >/tmp/lowrank-smc-build.log 2>&1 \
  || { tail -n 40 /tmp/lowrank-smc-build.log >&2; die "npm run build failed (log: /tmp/lowrank-smc-build.log)"; }

# --- sanity check: the engine gets an adapter (Vulkan lavapipe, or the OpenGL ES fallback) ----------

info=$(node bin/lowrank-smc.js info --json 2>/tmp/lowrank-smc-info.log) \
  || { cat /tmp/lowrank-smc-info.log >&2; die "lowrank-smc info found no usable WebGPU adapter"; }
printf '%s\n' "$info" | node -e '
  const i = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
  const subgroups = i.features.includes("subgroups") ? "subgroups" : "no subgroups";
  console.log(`[setup] adapter: ${i.backend} (${i.featureLevel}) ${i.vendor} ${i.architecture} ${i.description}${i.software ? " [software]" : ""}, ${subgroups}`);
' || die "lowrank-smc info --json printed something that is not the expected JSON: $info"
