#!/usr/bin/env bash
# False-positive budget of the default policy: while `rampart monitor --json` runs with the default policy, build
# and test part of Rampart, reinstall a small Debian package and run a podman container. Fails if any rule match
# of severity medium, high or critical appears. Run it as root on an otherwise quiet machine: every match on the
# host counts, whoever caused it.
#
# usage: scripts/fp-budget.sh [RAMPART_BINARY]   (default: target/release/rampart)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/rampart}
POLICY=crates/rampart-policy/policies/default.policy
OUT=$(mktemp /tmp/fp-budget-XXXXXX.jsonl)
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
[ -x "$BIN" ] || { echo "no rampart binary at $BIN (cargo build --release -p rampart)" >&2; exit 2; }

args=(monitor --json --policy "$POLICY")
if "$BIN" monitor --help | grep -q -- --no-kill; then args+=(--no-kill); fi
"$BIN" "${args[@]}" > "$OUT" 2> "$OUT.err" &
MON=$!
trap 'kill $MON 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "rampart: monitoring" "$OUT.err" && break; sleep 0.1; done
grep -q "rampart: monitoring" "$OUT.err" || { cat "$OUT.err" >&2; exit 1; }

step() { echo "== $*" >&2; }
step "cargo build + test of rampart-model"
cargo build -q -p rampart-model
cargo test -q -p rampart-model > /dev/null
step "apt-get install --reinstall hostname"
if ! apt-get install -y -q --reinstall hostname > /dev/null 2>&1; then
  echo "apt-get could not download hostname; installing a locally built package instead" >&2
  pkg=$(mktemp -d)
  mkdir -p "$pkg/p/DEBIAN" "$pkg/p/usr/share/doc/rampart-fp-probe"
  printf 'Package: rampart-fp-probe\nVersion: 1.0\nArchitecture: all\nMaintainer: Rampart <dev@rampart.invalid>\nDescription: FP budget probe\n' > "$pkg/p/DEBIAN/control"
  printf '#!/bin/sh\nset -e\nmkdir -p /var/lib/rampart-fp-probe\n' > "$pkg/p/DEBIAN/postinst"
  chmod 755 "$pkg/p/DEBIAN/postinst"
  echo probe > "$pkg/p/usr/share/doc/rampart-fp-probe/README"
  dpkg-deb -b "$pkg/p" "$pkg/rampart-fp-probe.deb" > /dev/null
  apt-get install -y -q "$pkg/rampart-fp-probe.deb" > /dev/null
  apt-get purge -y -q rampart-fp-probe > /dev/null
  rm -rf "$pkg" /var/lib/rampart-fp-probe
fi
step "podman run busybox"
export CONTAINERS_CONF=$PWD/crates/rampart-testkit/podman/containers.conf
PODMAN=(podman --root /var/tmp/rampart-podman/storage --runroot /run/rampart-podman/runroot --tmpdir /run/rampart-podman/libpod)
image=localhost/rampart-test-busybox:1.0
if ! "${PODMAN[@]}" image exists "$image"; then
  echo "busybox test image missing: run the rampart-testkit tests once (cargo test -p rampart-testkit)" >&2
  exit 2
fi
"${PODMAN[@]}" run --rm "$image" sh -c 'echo hello; ls / > /dev/null; cat /etc/passwd > /dev/null; sleep 1'

sleep 3
kill -INT $MON; wait $MON || true
trap - EXIT
python3 - "$OUT" "$MON" <<'EOF'
import collections, json, sys
counts, bad = collections.Counter(), []
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    rule = m.get("rule") or {}
    if rule.get("id") == "security_tool_killed" and str((m.get("signal") or {}).get("pid")) == sys.argv[2]:
        print("(not counted: this script stopping its own monitor with SIGINT, reported as security_tool_killed)")
        continue
    sev = (rule.get("tags") or {}).get("severity", "")
    counts[(rule.get("id"), sev)] += 1
    if sev in ("medium", "high", "critical"):
        p = m.get("process", {})
        bad.append(f'{rule.get("id")} ({sev}): {p.get("file", {}).get("path")} {p.get("args", "")[:120]}')
for (rid, sev), n in sorted(counts.items()):
    print(f"{n:5} {sev:<8} {rid}")
if bad:
    print(f"FAILED: {len(bad)} match(es) of severity medium or higher:")
    print("\n".join(sorted(set(bad))))
    sys.exit(1)
print(f"ok: {sum(counts.values())} match(es), none of severity medium or higher")
EOF
