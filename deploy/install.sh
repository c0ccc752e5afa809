#!/usr/bin/env bash
# Installs one office's kotosyncd on this machine (docs/operations.md):
#
#   deploy/install.sh [options] OFFICE
#
# OFFICE is a node name with a Config/OFFICE.json (jakobstad, nykarleby, kronoby,
# pedersore, larsmo). It installs, each with its owner and mode:
#   /usr/local/bin/kotosyncd, /usr/local/bin/kotosync     root, 0755
#   /etc/kotosync/                                        kotosync, 0700
#   /etc/kotosync/kotosyncd.json      (Config/OFFICE.json) kotosync, 0600
#   the region manifest, the key and the secrets file at the paths the
#   config names (regionManifest, keyFile, secretsFile)    kotosync, 0600
#   the TLS files the config names (tls.*) and the proxy's
#   /etc/kotosync/tls/OFFICE-server.{pem,key}, from --tls  kotosync, 0600
#   /var/lib/kotosync/                (dataDirectory)      kotosync, 0700
#   /etc/systemd/system/kotosyncd.service                  root, 0644
#   /etc/nginx/conf.d/kotosync.conf   (from deploy/nginx)  root, 0644
#   /usr/local/share/doc/kotosync/operations.md            root, 0644
# creates the system user kotosync if missing, then reloads systemd and nginx
# and enables the unit. Idempotent: a file already in place with the same
# content, owner and mode is left alone (its mtime too); a second run changes
# nothing and says "0 changed". It never replaces an installed key with
# another one (a node's key is its identity: rotate as docs/operations.md says).
#
# options:
#   --root DIR         install under DIR instead of / (a staging root, like
#                      DESTDIR): no system user is created (files are owned by
#                      the user running the script, or --owner), and systemctl,
#                      nginx and the kotosync user are left alone; the paths
#                      inside the installed files stay the real ones
#   --owner USER       owner of the office's files under --root (default: you)
#   --binaries DIR     take kotosyncd and kotosync from DIR (default: build them
#                      with swift build -c release)
#   --manifest FILE    the region manifest (default Config/region.json)
#   --key FILE         the office's Ed25519 key (kotosyncd keygen); without it an
#                      installed key is kept, and if there is none one is made
#                      and its "publicKeys" line printed for the manifest
#   --secrets FILE     the office's secrets file (required on the first run)
#   --tls DIR          TLS files named as in the config and
#                      OFFICE-server.pem/OFFICE-server.key for nginx
#   --server-name NAME the proxy's server_name (default kotosync.OFFICE.example.invalid)
#   --listen PORT      the proxy's listen address/port (default 443)
#   --no-nginx         do not install the nginx site
#   -h, --help         this help
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
source "$repo/deploy/lib.sh"

usage() { sed -n '2,44p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "install.sh: $*" >&2; exit 2; }

root="" owner="" binaries="" manifest="$repo/Config/region.json" key="" secrets="" tls="" server_name="" listen=443 nginx=true office=""
while [ $# -gt 0 ]; do
    case "$1" in
        --root) root="${2:?--root needs a directory}"; shift 2 ;;
        --owner) owner="${2:?--owner needs a user}"; shift 2 ;;
        --binaries) binaries="${2:?--binaries needs a directory}"; shift 2 ;;
        --manifest) manifest="${2:?--manifest needs a file}"; shift 2 ;;
        --key) key="${2:?--key needs a file}"; shift 2 ;;
        --secrets) secrets="${2:?--secrets needs a file}"; shift 2 ;;
        --tls) tls="${2:?--tls needs a directory}"; shift 2 ;;
        --server-name) server_name="${2:?--server-name needs a name}"; shift 2 ;;
        --listen) listen="${2:?--listen needs a port}"; shift 2 ;;
        --no-nginx) nginx=false; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) [ -z "$office" ] || die "one OFFICE only (see --help)"; office="$1"; shift ;;
    esac
done
[ -n "$office" ] || die "which OFFICE? (see --help)"
config="$repo/Config/$office.json"
[ -f "$config" ] || die "no Config/$office.json: OFFICE is one of $(cd "$repo/Config" && ls ./*.json | sed 's|^\./||; s|\.json$||' | grep -v -e region -e secrets | tr '\n' ' ')"
[ -f "$manifest" ] || die "no region manifest at $manifest"
[ -z "$key" ] || [ -f "$key" ] || die "no key file at $key"
[ -z "$secrets" ] || [ -f "$secrets" ] || die "no secrets file at $secrets"
[ -z "$tls" ] || [ -d "$tls" ] || die "no TLS directory at $tls"

if [ -n "$root" ]; then
    mkdir -p "$root"
    root="$(cd "$root" && pwd)"
    user="${owner:-$(id -un)}"
else
    [ "$(id -u)" -eq 0 ] || die "run as root (or with --root DIR to stage the files)"
    [ -z "$owner" ] || die "--owner applies to --root only: the service user is kotosync"
    user=kotosync
fi
need_packages jq
group="$(id -gn "$user" 2>/dev/null || echo "$user")"

# What the office's config names (kept exactly: the installed file is the config as committed).
field() { jq -er "$1" "$config"; }
node="$(field .node)"
[ "$node" = "$office" ] || die "Config/$office.json is for node $node"
data_dir="$(field .dataDirectory)"
manifest_path="$(field .regionManifest)"
key_path="$(field .keyFile)"
secrets_path="$(field .secretsFile)"
port="$(jq -r '.listen.port // 7100' "$config")"
for path in "$data_dir" "$manifest_path" "$key_path" "$secrets_path"; do
    case "$path" in /*) ;; *) die "Config/$office.json: $path is not absolute; an installed config names absolute paths" ;; esac
done
config_dir=/etc/kotosync
server_name="${server_name:-kotosync.$office.example.invalid}"
server_certificate="$config_dir/tls/$office-server.pem"
server_key="$config_dir/tls/$office-server.key"
ca_bundle="$(jq -r '.tls.caBundle // empty' "$config")"

# Refused before anything is written: a first run without the secrets file.
if [ -z "$secrets" ] && [ ! -f "$root$secrets_path" ]; then
    die "no secrets file installed at $secrets_path yet: give one with --secrets (shape: Config/secrets.example.json)"
fi

changed=0
note() { echo "  $*"; }

# ensure_dir PATH MODE OWNER GROUP
ensure_dir() {
    local target="$root$1"
    if [ ! -d "$target" ]; then
        mkdir -p -m "$2" "$target"
        changed=$((changed + 1)); note "created $1/"
    fi
    fix_attributes "$1" "$2" "$3" "$4"
}

# fix_attributes PATH MODE OWNER GROUP: sets what differs, counting it.
fix_attributes() {
    local target="$root$1" mode owner_now
    mode="$(stat -c %a "$target")"
    owner_now="$(stat -c %U:%G "$target")"
    if [ "$mode" != "${2#0}" ]; then chmod "$2" "$target"; changed=$((changed + 1)); note "mode $2 on $1"; fi
    if [ "$owner_now" != "$3:$4" ]; then chown "$3:$4" "$target"; changed=$((changed + 1)); note "owner $3:$4 on $1"; fi
}

# install_file SOURCE PATH MODE OWNER GROUP: copies when the content differs
# (through a temporary file and a rename, so a reader never sees half a file).
install_file() {
    local source="$1" target="$root$2"
    [ -r "$source" ] || die "cannot read $source"
    if [ -f "$target" ] && cmp -s "$source" "$target"; then
        fix_attributes "$2" "$3" "$4" "$5"
        return 0
    fi
    mkdir -p "$(dirname "$target")"
    local temporary
    temporary="$(mktemp "$target.install.XXXXXX")"
    if ! { cat "$source" > "$temporary" && chmod "$3" "$temporary" && chown "$4:$5" "$temporary" && mv -f "$temporary" "$target"; }; then
        rm -f "$temporary"
        die "cannot install $2"
    fi
    changed=$((changed + 1)); note "installed $2"
}

# install_text PATH MODE OWNER GROUP < content
install_text() {
    local staged
    staged="$(mktemp)"
    cat > "$staged"
    install_file "$staged" "$@"
    rm -f "$staged"
}

echo "==> installing kotosync office $office${root:+ under $root}"

# 1. The service user.
if [ -z "$root" ]; then
    if ! getent passwd kotosync >/dev/null; then
        useradd --system --user-group --home-dir "$data_dir" --no-create-home --shell /usr/sbin/nologin \
            --comment "kotosync office node" kotosync
        changed=$((changed + 1)); note "created system user kotosync"
    fi
else
    note "(--root: system user kotosync not created; files owned by $user:$group)"
fi

# 2. The binaries.
if [ -z "$binaries" ]; then
    need_swift
    (cd "$repo" && swift build -c release --product kotosyncd >/dev/null && swift build -c release --product kotosync >/dev/null)
    binaries="$(cd "$repo" && swift build -c release --show-bin-path)"
fi
for binary in kotosyncd kotosync; do
    [ -x "$binaries/$binary" ] || die "no $binary in $binaries"
done
# Files that belong to the system (binaries, unit, site): root's, or yours under --root.
root_owner="$(id -un)" root_group="$(id -gn)"
[ -n "$root" ] || { root_owner=root; root_group=root; }
ensure_dir /usr/local/bin 0755 "$root_owner" "$root_group"
for binary in kotosyncd kotosync; do
    install_file "$binaries/$binary" "/usr/local/bin/$binary" 0755 "$root_owner" "$root_group"
done

# 3. The office's configuration, manifest, key, secrets and TLS files.
ensure_dir "$config_dir" 0700 "$user" "$group"
install_file "$config" "$config_dir/kotosyncd.json" 0600 "$user" "$group"
ensure_dir "$(dirname "$manifest_path")" 0700 "$user" "$group"
install_file "$manifest" "$manifest_path" 0600 "$user" "$group"
if [ -n "$key" ]; then
    if [ -f "$root$key_path" ] && ! cmp -s "$key" "$root$key_path"; then
        die "$key_path holds another key: a node's key is its identity; rotate it as docs/operations.md says (the new key is added to the manifest first)"
    fi
    install_file "$key" "$key_path" 0600 "$user" "$group"
elif [ -f "$root$key_path" ]; then
    fix_attributes "$key_path" 0600 "$user" "$group"
else
    "$binaries/kotosyncd" keygen --out "$root$key_path"
    chown "$user:$group" "$root$key_path"
    changed=$((changed + 1)); note "made a new key $key_path: add the line above to $node's entry in the region manifest, at every office"
fi
if [ -n "$secrets" ]; then
    install_file "$secrets" "$secrets_path" 0600 "$user" "$group"
elif [ -f "$root$secrets_path" ]; then
    fix_attributes "$secrets_path" 0600 "$user" "$group"
else
    die "no secrets file installed at $secrets_path yet: give one with --secrets (shape: Config/secrets.example.json)"
fi
tls_files=()
for name in caBundle clientCertificate clientKey; do
    path="$(jq -r ".tls.$name // empty" "$config")"
    [ -z "$path" ] || tls_files+=("$path")
done
[ "$nginx" = false ] || tls_files+=("$server_certificate" "$server_key")
for path in "${tls_files[@]}"; do
    if [ -n "$tls" ] && [ -f "$tls/$(basename "$path")" ]; then
        ensure_dir "$(dirname "$path")" 0700 "$user" "$group"
        install_file "$tls/$(basename "$path")" "$path" 0600 "$user" "$group"
    elif [ -f "$root$path" ]; then
        fix_attributes "$path" 0600 "$user" "$group"
    else
        echo "  warning: $path is missing (give --tls DIR holding $(basename "$path"))" >&2
    fi
done

# 4. The data directory (systemd's StateDirectory= makes it too, with these modes).
ensure_dir "$data_dir" 0700 "$user" "$group"

# 5. The unit, the nginx site and the operations guide.
install_file "$repo/deploy/systemd/kotosyncd.service" /etc/systemd/system/kotosyncd.service 0644 "$root_owner" "$root_group"
if [ "$nginx" = true ]; then
    # The placeholders' explanations go; the values are in the lines below them.
    sed -e '/^#.*{{/d' \
        -e "s|{{LISTEN}}|$listen|" \
        -e "s|{{SERVER_NAME}}|$server_name|" \
        -e "s|{{SERVER_CERTIFICATE}}|$server_certificate|" \
        -e "s|{{SERVER_KEY}}|$server_key|" \
        -e "s|{{REGION_CA}}|${ca_bundle:-$config_dir/region-ca.pem}|" \
        -e "s|{{KOTOSYNCD_PORT}}|$port|" \
        "$repo/deploy/nginx/kotosync-tls.conf.template" \
        | install_text /etc/nginx/conf.d/kotosync.conf 0644 "$root_owner" "$root_group"
fi
install_file "$repo/docs/operations.md" /usr/local/share/doc/kotosync/operations.md 0644 "$root_owner" "$root_group"

# 6. Tell systemd and nginx (only on the real root, and only when something changed).
if [ -z "$root" ] && [ "$changed" -gt 0 ]; then
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        systemctl enable kotosyncd.service >/dev/null 2>&1 || true
        note "systemd reloaded; start with: systemctl start kotosyncd (or restart, to pick up a new config)"
    else
        note "systemd is not running here: start kotosyncd by hand or boot with systemd"
    fi
    if [ "$nginx" = true ] && command -v nginx >/dev/null 2>&1; then
        if nginx -t >/dev/null 2>&1; then
            if [ -d /run/systemd/system ]; then systemctl reload nginx || true; else nginx -s reload 2>/dev/null || true; fi
        else
            echo "  warning: nginx -t fails (missing certificates?); nginx was not reloaded" >&2
        fi
    fi
fi
echo "==> $office installed: $changed changed"
