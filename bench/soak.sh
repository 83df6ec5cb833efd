#!/usr/bin/env bash
# bench/soak.sh: the soak benchmark (bench/soak.rs) against a private dockerd
# it starts afresh in /tmp/wwsoak and stops on exit, also on failure; writes
# bench/SOAK.md.
#   SOAK_SECONDS=N          run length (default 1800)
#   SOAK_RESTART_SECONDS=N  engine restart period (default 300)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DIR=/tmp/wwsoak
OUT=$ROOT/bench/SOAK.md
REPORT=$ROOT/target/soak-report.md
LOG=$ROOT/target/soak-run.log
SECONDS_TOTAL=${SOAK_SECONDS:-1800}
RESTART=${SOAK_RESTART_SECONDS:-300}

cleanup() { tests/engines/dockerd.sh stop "$DIR" >/dev/null 2>&1 || true; }
trap cleanup EXIT INT TERM

cargo bench --bench soak --no-run >&2
if [[ -d $DIR ]]; then
  cleanup
  rm -rf "$DIR"
fi
SOCK=$(tests/engines/dockerd.sh start "$DIR" | tail -n 1)
dver=$(docker -H "unix://$SOCK" version --format '{{.Server.Version}}' 2>/dev/null || echo '?')
started=$(date -u '+%Y-%m-%d %H:%M UTC')
rm -f "$REPORT"
SOAK_DOCKER_SOCK=unix://$SOCK SOAK_ENGINE_DIR=$DIR SOAK_SECONDS=$SECONDS_TOTAL \
  SOAK_RESTART_SECONDS=$RESTART SOAK_REPORT=$REPORT \
  cargo bench --bench soak 2>&1 | tee "$LOG" >&2
loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
cleanup

{
  echo "# libwhalewatcher soak benchmark"
  echo
  echo "One Docker watcher (C ABI, \`audit_interval_ms\` = 10 000, other options default) on a private"
  echo "dockerd under continuous churn, the engine stopped and started again (same directory and"
  echo "socket, \`tests/engines/dockerd.sh stop|start\`) every $RESTART s; the watcher reconnects and"
  echo "resynchronises by itself. Command: \`bench/soak.sh\` (\`bench/soak.rs\`)."
  echo
  echo "- date: $started; run length: $SECONDS_TOTAL s; engine restart period: $RESTART s"
  echo "- machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/{printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo); kernel $(uname -r); dockerd $dver"
  echo "- load average at the end: $loadavg (the machine is shared: other benchmarks and builds may"
  echo "  run at the same time; that costs latency, not correctness, which is what a soak looks at)"
  echo "- churn: one action every 200 ms: start a busybox \`sleep 100000\` container (\`--network none\`,"
  echo "  auto-remove) while fewer than 10 are alive, kill one while 40 are, else at random start one,"
  echo "  pause/unpause one, or kill one (SIGKILL). Calls failing while the engine restarts are counted"
  echo "  and the churn goes on."
  echo "- every 10 s: RSS (\`VmRSS\`), open fds (\`/proc/self/fd\`) and threads (\`/proc/self/task\`) of"
  echo "  the benchmark process (the watcher plus the benchmark's own tokio runtime and bollard client),"
  echo "  and the snapshot compared with the engine's list of running and paused containers."
  echo "- a *difference* is a container alive in the engine's list but absent from the snapshot, in"
  echo "  the snapshot but not alive in the engine, or with another paused state. The snapshot and the"
  echo "  list are taken one after the other while the churn goes on, so a single sample may show a"
  echo "  change in flight. A *mismatch lasting longer than one audit interval* is the same difference"
  echo "  (same container, same kind, same paused value) seen in two consecutive comparisons 10 s"
  echo "  apart, counted once. Comparisons while the engine is down or restarting are skipped (shown as"
  echo "  \"skipped\"), and a skipped one breaks the consecutive pair."
  echo "- plot: none (python3 has no matplotlib here; the curves are the samples table below)."
  echo
  cat "$REPORT"
} >"$OUT"
cat "$OUT" | head -40
