#!/usr/bin/env bash
# Install the system packages memprof drives (valgrind, heaptrack, libc debug symbols, a C compiler,
# gdb for `memprof watch --memray`, which attaches memray to a running process through it)
# where they are missing. Idempotent; runs `apt-get update` once when something must be installed.
set -euo pipefail
need=()
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
command -v heaptrack >/dev/null 2>&1 || need+=(heaptrack)
command -v heaptrack_print >/dev/null 2>&1 || need+=(heaptrack)
command -v ms_print >/dev/null 2>&1 || need+=(valgrind)
command -v gdb >/dev/null 2>&1 || need+=(gdb)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v g++ >/dev/null 2>&1 || need+=(g++)
dpkg -s libc6-dbg >/dev/null 2>&1 || need+=(libc6-dbg)
# the Python headers, for the heaptrack decoder's C extension (a distribution's python3 ships them
# apart; pyenv and python.org builds have them)
"${PYTHON:-python3}" -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    || need+=("python$("${PYTHON:-python3}" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-dev")
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
