"""What a process that will save or load kept models imports before Dagster, dbt and Great
Expectations, and why.

Importing skops names each scipy ufunc it trusts by looking for it in every loaded module in
turn, in import order. After Steward's definitions, dbt and Great Expectations are loaded
(about 4,400 modules) that search took 10 s of skops's import, against 3 s with scipy.special
imported first (measured side by side on this machine, both under the same load): each search
then ends at scipy.special. Kept light on purpose: importing this module loads nothing else.
"""


def preload_for_skops() -> None:
    import scipy.special  # noqa: F401 - imported for its place in import order
