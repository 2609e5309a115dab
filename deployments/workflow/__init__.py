"""The install / upgrade / rollback / uninstall engine (SPEC sections 5 and 6).

``services.instances`` creates operations; ``engine.operation_execute`` runs one
as a sequence of idempotent steps; ``reaper.operations_reap`` finds operations
whose worker died."""
