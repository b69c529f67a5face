#!/usr/bin/env bash
# Until the first release there is one migration, regenerated from store/models/ after a model change.
# (After the first release, add a new revision with `alembic revision --autogenerate` instead.)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f store/migrations/versions/0001_initial_schema.py
.venv/bin/python - "$tmp" <<'PY'
import sys
from alembic import command
from store.db import alembic_config
command.revision(alembic_config(f"sqlite:///{sys.argv[1]}/autogen.sqlite3"), message="initial schema",
                 autogenerate=True, rev_id="0001")
PY
sed -i 's/[[:space:]]*$//' store/migrations/versions/0001_initial_schema.py
rm -rf "$tmp"
echo "regenerated store/migrations/versions/0001_initial_schema.py"
