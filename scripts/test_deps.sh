#!/usr/bin/env bash
# The Debian packages the test suite needs: chromium (the report.html browser checks) and wordnet-base (the
# token-type labeller). Installed through apt when run as root or with passwordless sudo; otherwise (or when apt
# fails) a warning says what is missing and which tests will skip, and setup goes on (exit 0).
set -uo pipefail
need=()
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || need+=(chromium)
[ -d "${WNSEARCHDIR:-/usr/share/wordnet}" ] || need+=(wordnet-base)
[ ${#need[@]} -eq 0 ] && exit 0

SUDO=""
why=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    SUDO="sudo -n"
  else
    why="not root and no passwordless sudo"
  fi
fi
if [ -z "$why" ] && ! command -v apt-get >/dev/null 2>&1; then
  why="apt-get is not available"
fi
if [ -z "$why" ]; then
  log=$(mktemp)
  if $SUDO apt-get update -qq >"$log" 2>&1 && $SUDO apt-get install -y -qq "${need[@]}" >>"$log" 2>&1; then
    rm -f "$log"
    exit 0
  fi
  why="apt-get failed: $(tail -n 3 "$log" | tr '\n' ' ')"
  rm -f "$log"
fi

{
  echo "WARNING: could not install ${need[*]} ($why)."
  for pkg in "${need[@]}"; do
    case $pkg in
      chromium) echo "  tests/integration/test_browser.py will skip (the report.html browser checks)";;
      wordnet-base) echo "  tests/unit/zoo/test_token_types.py's WordNet tests will skip (the token-type labeller)";;
    esac
  done
  echo "  to run them: apt-get install -y ${need[*]} (as root), then rerun the tests"
} >&2
exit 0
