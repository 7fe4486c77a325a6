# Python environments and node modules the test tools need, made once per machine: kept in the
# user's cache under a name derived from what they were made from, and linked where the
# scripts and tests look for them. A fresh clone links them instead of installing again; a
# change of requirements makes a new one.
#
# Sourced by scripts/setup.sh and scripts/schemathesis.sh.

portcullis_cache="${XDG_CACHE_HOME:-$HOME/.cache}/portcullis"

# link_to LINK TARGET: LINK (a path in the checkout) becomes a symbolic link to TARGET,
# replacing whatever is there (an environment made in place by an older version).
link_to() {
    mkdir -p "$(dirname "$1")"
    if [[ -e "$1" && ! -L "$1" ]]; then
        rm -rf "$1"
    fi
    ln -sfn "$2" "$1"
}

# cached_venv LINK KEY PIP_ARGS...: a virtual environment with `pip install PIP_ARGS`, made
# under the cache as NAME-KEY (KEY: a digest of what it is made from), linked at LINK.
cached_venv() {
    local link="$1" key="$2"
    shift 2
    local dir
    dir="$portcullis_cache/$(basename "$link")-$key"
    # Made where it stays (a venv records its own path); `.complete` marks a finished one, so
    # an interrupted install is made again.
    if [[ ! -f "$dir/.complete" ]]; then
        echo "making the Python environment $dir"
        rm -rf "$dir"
        mkdir -p "$portcullis_cache"
        python3 -m venv "$dir"
        "$dir/bin/pip" install -q "$@"
        touch "$dir/.complete"
    fi
    link_to "$link" "$dir"
}

# A digest of standard input, short enough for a directory name.
digest() {
    sha256sum | cut -c1-16
}
