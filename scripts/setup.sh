#!/usr/bin/env bash
# Installs what Deft needs on Debian 12 (idempotent): Fashion-MNIST, DejaVu fonts for plots, Chromium to check the
# HTML report; restores NuGet packages and makes TorchSharp's native library loadable (see `./deft doctor`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
need=()
[[ -d /usr/share/datasets/fashion-mnist ]] || need+=(dataset-fashion-mnist)
[[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || need+=(fonts-dejavu-core)
if ((${#need[@]})); then
  sudo_cmd=(); [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Building runs the CLI's start-up check, which patches the restored libLibTorchSharp.so where libstdc++ is too old.
"$root/deft" doctor --fix >/dev/null || "$root/deft" doctor --fix
