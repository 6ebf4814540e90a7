import pytest

from openecon.pg import PostgresError, find_bindir
from openecon.settings import Settings


def test_missing_binaries_are_reported_with_what_to_install(tmp_path):
    s = Settings({"OPENECON_STATE_DIR": str(tmp_path), "OPENECON_PG_BIN": str(tmp_path)})
    with pytest.raises(PostgresError) as exc:
        find_bindir(s)
    assert "initdb" in str(exc.value) and "apt-get install -y postgresql" in str(exc.value)
