# Sourced by the benchmarks that run Metaflow beside mfw. `metaflow_venv
# NAME PIN [PACKAGE...]` makes (once) a venv under
# ${XDG_CACHE_HOME:-$HOME/.cache}/mfw/bench/NAME with metaflow==PIN and the
# packages given, never in the repository, and sets `venv` to it. PYTHON
# chooses the interpreter that makes it (default python3).
metaflow_venv() {
    local name=$1 pin=$2
    shift 2
    venv="${XDG_CACHE_HOME:-$HOME/.cache}/mfw/bench/$name"
    local want="import metaflow; assert metaflow.__version__ == '$pin'"
    local package
    for package in "$@"; do
        # `scikit-learn==1.9.1` imports as sklearn; a check by distribution
        # name covers every package.
        want="$want; import importlib.metadata as m; assert m.version('${package%%==*}') == '${package#*==}'"
    done
    if "$venv/bin/python" -c "$want" 2>/dev/null; then
        return 0
    fi
    echo "metaflow-venv: making $venv (metaflow $pin${*:+, $*})" >&2
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    "${PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "metaflow==$pin" "$@"
}
