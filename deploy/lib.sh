# Shared helpers for the deploy scripts: install what is missing, find Swift.

# need_packages PKG...: installs the Debian packages that are not installed yet.
need_packages() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing Debian packages: ${missing[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "error: missing packages (${missing[*]}) and not root; run as root or install them with apt-get" >&2
            exit 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# need_swift: puts a Swift 6 toolchain on PATH or explains how to get one.
need_swift() {
    if ! command -v swift >/dev/null 2>&1; then
        for dir in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
            [ -x "$dir/swift" ] && export PATH="$dir:$PATH" && break
        done
    fi
    if ! command -v swift >/dev/null 2>&1; then
        echo "error: no Swift toolchain found; install Swift 6.1 or newer (https://www.swift.org/install/linux/) and put it on PATH" >&2
        exit 1
    fi
}

# need_venv DIR REQUIREMENTS: a Python virtual environment at DIR holding
# exactly the pinned packages of REQUIREMENTS (made anew when they change).
need_venv() {
    local dir=$1 requirements=$2 python=python3
    # Prefer Debian's interpreter when a pyenv shim shadows it without venv support.
    [ -x /usr/bin/python3 ] && python=/usr/bin/python3
    if [ -f "$dir/.requirements" ] && cmp -s "$dir/.requirements" "$requirements"; then return 0; fi
    echo "==> creating the test virtual environment ($dir)"
    rm -rf "$dir"
    "$python" -m venv "$dir"
    "$dir/bin/pip" install -q --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$dir/.requirements"
}
