"""Spelling corrections ("did you mean") for the database search backend.

Elasticsearch forgives typos itself (fuzzy queries); the database backend matches
substrings, so "promethues" finds nothing there. When a query finds nothing, each of
its words that is not a known word is replaced by the closest word of the catalogue's
vocabulary: app names (whole and split at ``-``/``_``/``.``), titles and keywords.

Bounded, so that a miss never costs much more than the query it corrects:
- the vocabulary holds at most VOCABULARY_LIMIT words and is read with one query,
  then cached for VOCABULARY_SECONDS under the catalogue's state (a cheap aggregate
  query), so a changed catalogue is seen at once;
- a word is compared only with words of the same first letter and a length within
  two of its own (like Elasticsearch's ``prefix_length: 1`` and at most two edits),
  by difflib's ratio, which first rejects cheaply on character counts.
"""

from __future__ import annotations

import difflib
import re
from bisect import bisect_left

from django.core.cache import cache
from django.db.models import Count, Max

from market.models import App

VOCABULARY_LIMIT = 20_000
VOCABULARY_SECONDS = 60
CACHE_KEY = "search:vocabulary:v1"
# Below this ratio a "correction" is another word, not a typo: "promethues" ->
# "prometheus" is 0.9, "grafna" -> "grafana" 0.92, "redis" -> "rails" 0.6.
CUTOFF = 0.8
MIN_LENGTH = 4  # shorter words have too many neighbours to guess from
_SPLIT = re.compile(r"[\s\-_./:,;()]+")

Vocabulary = dict[str, tuple[str, ...]]
"""Words by their first character."""


def _words_of(text: str) -> list[str]:
    return [
        w for w in _SPLIT.split(text.lower()) if len(w) >= 3 and w.isalnum() and not w.isdigit()
    ]


def vocabulary_build() -> Vocabulary:
    """The catalogue's words, grouped by first character. One query."""
    words: set[str] = set()
    rows = App.objects.order_by().values_list("name", "title", "keywords")
    for name, title, keywords in rows.iterator(2000):
        words.add(name.lower())
        words.update(_words_of(name))
        words.update(_words_of(title or ""))
        if isinstance(keywords, list):
            for keyword in keywords:
                words.update(_words_of(str(keyword)))
        if len(words) >= VOCABULARY_LIMIT:
            break
    grouped: dict[str, list[str]] = {}
    for word in sorted(words):
        grouped.setdefault(word[0], []).append(word)
    return {first: tuple(group) for first, group in grouped.items()}


def vocabulary_get() -> Vocabulary:
    """The vocabulary, cached under the catalogue's state (count, newest row, last
    update): an added, removed or updated app makes a new key at once."""
    state = App.objects.aggregate(n=Count("pk"), top=Max("pk"), last=Max("updated"))
    last = state["last"].timestamp() if state["last"] else 0
    key = f"{CACHE_KEY}:{state['n']}:{state['top']}:{last}"
    found = cache.get(key)
    if isinstance(found, dict):
        return found
    built = vocabulary_build()
    cache.set(key, built, VOCABULARY_SECONDS)
    return built


def _known(word: str, vocabulary: Vocabulary) -> bool:
    group = vocabulary.get(word[0], ())
    at = bisect_left(group, word)  # groups are sorted
    return at < len(group) and group[at] == word


def _closest(word: str, vocabulary: Vocabulary) -> str | None:
    candidates = [
        w for w in vocabulary.get(word[0], ()) if abs(len(w) - len(word)) <= 2 and w != word
    ]
    found = difflib.get_close_matches(word, candidates, n=1, cutoff=CUTOFF)
    return found[0] if found else None


def spelling_correct(q: str, *, vocabulary: Vocabulary | None = None) -> str:
    """The query with each unknown word replaced by its closest catalogue word, or
    "" when no word changed (nothing to suggest)."""
    words = q.lower().split()
    if not words:
        return ""
    vocabulary = vocabulary_get() if vocabulary is None else vocabulary
    changed = False
    corrected = []
    for word in words:
        if len(word) < MIN_LENGTH or _known(word, vocabulary) or not word[0].isalnum():
            corrected.append(word)
            continue
        closest = _closest(word, vocabulary)
        if closest is None:
            corrected.append(word)
            continue
        corrected.append(closest)
        changed = True
    return " ".join(corrected) if changed else ""
