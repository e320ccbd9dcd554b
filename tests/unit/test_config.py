from __future__ import annotations

import pytest
from pydantic import ValidationError

from bazaar.config import Settings


def test_embedded_defaults_use_sqlite_under_data_dir(tmp_path: object) -> None:
    s = Settings(data_dir=tmp_path)  # type: ignore[arg-type]
    assert s.effective_database_url.startswith("sqlite:///")
    assert s.effective_database_url.endswith("bazaar.db")
    assert s.cache_url == "memory://"


def test_env_is_read_and_bad_values_fail_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAZAAR_RESERVATION_STRATEGY", "pessimistic")
    assert Settings().reservation_strategy == "pessimistic"
    monkeypatch.setenv("BAZAAR_RESERVATION_STRATEGY", "hopeful")
    with pytest.raises(ValidationError, match="reservation_strategy"):
        Settings()


def test_master_key_is_redacted() -> None:
    s = Settings(master_key="c2VjcmV0")  # type: ignore[arg-type]
    assert "c2VjcmV0" not in repr(s)
