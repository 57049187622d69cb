# Shared by scripts/serve, scripts/test and friends: virtualenvs built from the lock files.
# Nothing here installs into the system Python (PEP 668 systems refuse it, and a machine's own
# packages would hide a missing dependency).

PYTHON=${PYTHON:-python3}

# ensure_venv DIR: a virtualenv at DIR made by $PYTHON (3.11 or newer). On Debian and Ubuntu
# the venv module is a package of its own (python3-venv); it is installed when missing.
ensure_venv() {
    local dir=$1
    [ -x "$dir/bin/python" ] && return 0
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "liveroom needs Python 3.11 or newer as \$PYTHON (found: $("$PYTHON" -V 2>&1))" >&2
        return 1
    fi
    if ! "$PYTHON" -m venv "$dir" >/dev/null 2>&1; then
        rm -rf "$dir"
        apt_install python3-venv
        "$PYTHON" -m venv "$dir"
    fi
}

# apt_install PKG...: Debian packages, with sudo when not root.
apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# install_locked DIR LOCK: the pinned, hash-checked packages of LOCK into the virtualenv DIR,
# then liveroom itself, editable, without its dependencies (they are all in LOCK) and without
# build isolation (setuptools comes from LOCK too). Skipped when DIR already holds exactly
# this LOCK and this project's build files, the C sources of its extensions among them (an
# extension built from an older source would lack what the new Python imports from it).
install_locked() {
    local dir=$1 lock=$2 stamp
    stamp=$(cat "$lock" pyproject.toml setup.py liveroom/*.c | sha256sum | cut -d' ' -f1)
    [ "$(cat "$dir/.liveroom-lock" 2>/dev/null)" = "$stamp" ] && return 0
    ensure_venv "$dir"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check \
        --require-hashes -r "$lock"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-deps --no-build-isolation -e .
    echo "$stamp" >"$dir/.liveroom-lock"
}
