"""The scoring pipeline, pure computation: landmarks → checks → windows → model → quality → summary.

No database, no HTTP: the same functions run in the API process, scoring processes and job workers.
"""
