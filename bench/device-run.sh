#!/usr/bin/env bash
# Runs bench/gpu-check.sh on a lent GPU machine that has no Node and no network, from the kit that
# `node scripts/device-kit.mjs` wrote to .devkit/ here (the device tool carries it: carry [".devkit"]).
# Unpacks Node, node_modules, dist/ and the shared data files into this copy of the working tree, brings
# the Vulkan loader where the image lacks one, points Vulkan at the NVIDIA driver, then runs the check.
# The check's JSON lines go to stdout and to $OUT/gpu-check.jsonl, its log to $OUT/gpu-check.log.
#
#   bash bench/device-run.sh [gpu-check arguments]      e.g. --dry-run (the adapter line only)
#
# On this machine it is tested against a copy of the tree (test/device-kit.test.ts); never run it in
# your own checkout: it writes node_modules/ and dist/ from the kit over what is there.
set -u -o pipefail
cd "$(dirname "$0")/.."

KIT=${DEVICE_KIT:-.devkit}
tarball=""
for f in "$KIT/runtime.tar.xz" "$KIT/runtime.tar"; do [ -f "$f" ] && tarball=$f && break; done
if [ -z "$tarball" ]; then
  echo "device-run: no kit in $KIT; build it here with \`node scripts/device-kit.mjs\` and carry .devkit" >&2
  exit 2
fi

echo "device-run: unpacking $tarball" >&2
tar -xf "$tarball" || { echo "device-run: could not unpack $tarball" >&2; exit 1; }
export PATH="$PWD/.devkit-bin:$PATH"
# the shared data beside the repository, where the tests and the bench look for it
if [ -d .devkit-shared/data ]; then
  mkdir -p ../shared/data && cp -rn .devkit-shared/data/. ../shared/data/
fi

if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  if ls "$KIT"/debs/*.deb >/dev/null 2>&1; then
    echo "device-run: no Vulkan loader on this machine; unpacking the kit's" >&2
    for f in "$KIT"/debs/*.deb; do dpkg -x "$f" /; done
    ldconfig
  else
    echo "device-run: no Vulkan loader here and none in the kit; Dawn will fall back to OpenGL ES or fail" >&2
  fi
fi
# The NVIDIA driver's Vulkan and EGL manifests live under its mounted folder in the device image.
nv=/usr/local/nvidia/share
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nv/vulkan/icd.d/nvidia_icd.json" ]; then export VK_DRIVER_FILES="$nv/vulkan/icd.d/nvidia_icd.json"; fi
if [ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ] && [ -f "$nv/glvnd/egl_vendor.d/10_nvidia.json" ]; then
  export __EGL_VENDOR_LIBRARY_FILENAMES="$nv/glvnd/egl_vendor.d/10_nvidia.json"
fi

out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
{
  echo "device-run: node $(command -v node) $(node -v), kit $(cat .devkit-manifest.json 2>/dev/null | tr -d '\n ')"
  command -v nvidia-smi >/dev/null && nvidia-smi -L
  echo "device-run: VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}"
} 2>&1 | tee "$out/gpu-check.log" >&2
bash bench/gpu-check.sh "$@" 2> >(tee -a "$out/gpu-check.log" >&2) | tee "$out/gpu-check.jsonl"
rc=${PIPESTATUS[0]}
echo "device-run: gpu-check exited $rc; JSON lines in $out/gpu-check.jsonl" >&2
exit "$rc"
