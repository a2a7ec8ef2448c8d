# Shared by bin/run and bin/test: find Python 3.11+, create .venv and install kefu into it
# (again only when setup.py or pyproject.toml changed since the last install).
kefu_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "kefu needs Python 3.11 or newer (apt-get install python3)" >&2
  return 1
}

kefu_venv() {  # usage: kefu_venv EXTRAS   (e.g. "" or "[dev]" or "[dev,speech]")
  local extras="$1"
  local marker=".venv/.installed$extras"
  if [ ! -x .venv/bin/python ]; then
    "$(kefu_python)" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
  fi
  if [ ! -f "$marker" ] || [ setup.py -nt "$marker" ] || [ pyproject.toml -nt "$marker" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".$extras"
    touch "$marker"
  fi
}
