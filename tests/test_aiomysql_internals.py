"""service.aiomysql_internals: the one module that reaches into aiomysql refuses a version it was not read in."""

from __future__ import annotations

import importlib

import aiomysql
import pytest

from service import aiomysql_internals


def test_it_was_written_for_the_installed_aiomysql() -> None:
    assert aiomysql.__version__ == aiomysql_internals.WRITTEN_FOR
    assert callable(aiomysql.Pool._wakeup)  # the private method it calls is still there


def test_another_aiomysql_is_refused_at_import(monkeypatch) -> None:
    monkeypatch.setattr(aiomysql, "__version__", "0.4.0")
    with pytest.raises(ImportError, match=r"written for aiomysql 0\.3\.2, found 0\.4\.0"):
        importlib.reload(aiomysql_internals)
    monkeypatch.undo()
    importlib.reload(aiomysql_internals)
