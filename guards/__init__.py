"""One home for each security check that more than one part of Ops Market needs.

Each rule lives in exactly one module here, with the reason it is what it is; every
caller (storage keys, GitOps manifest paths, package and build-source archives,
names of markets, teams, namespaces and instances, file locks, git subprocesses)
calls it and translates its refusal into its own error type. A rule that must
change changes here, once, and the tests in ``tests/guards/`` pin it.

The modules import nothing from the Django apps, so any app (and its tests) can
use them without an import cycle.
"""
