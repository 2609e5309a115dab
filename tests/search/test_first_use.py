"""Indexes are created on first use, once, whoever gets there first."""

from __future__ import annotations

import pytest

from search.client import alias_targets, forget_ensured, indices_ensure

pytestmark = [pytest.mark.services, pytest.mark.django_db]


def test_first_use_creates_each_index_once_and_puts_a_lost_alias_back(search_es):
    first = indices_ensure(search_es)
    forget_ensured()  # as another process would start: nothing known
    for kind in ("app", "component"):
        search_es.indices.delete_alias(index="*", name=f"{search_es_prefix()}-{kind}")

    second = indices_ensure(search_es)

    assert sorted(first) == ["app", "appdoc", "component", "instance", "namespace"]
    assert second == []  # the fixed first index already exists: nothing created twice
    for kind in ("app", "component", "instance"):
        assert len(alias_targets(search_es, kind)) == 1


def search_es_prefix() -> str:
    from django.conf import settings

    return str(settings.SEARCH_INDEX_PREFIX)
