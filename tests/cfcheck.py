"""CF compliance of products, through the IOOS compliance-checker (its `cf` suite)."""
from __future__ import annotations

from pathlib import Path


def cf_errors(path: str | Path) -> list[str]:
    """Messages of every failed high-priority (error-level) CF check for a netCDF file."""
    from compliance_checker.runner import CheckSuite

    suite = CheckSuite()
    suite.load_all_available_checkers()
    ds = suite.load_dataset(str(path))
    try:
        groups = suite.run_all(ds, ["cf"], skip_checks=[])
    finally:
        ds.close()  # an open HDF5 handle makes later opens of the same file crash in-process
    errors = []
    for _name, (results, _errs) in groups.items():
        for r in results:
            value = r.value
            failed = (value[0] < value[1]) if isinstance(value, tuple) else (not value)
            if failed and r.weight >= 3:  # 3 = HIGH priority: a CF "error"
                errors.append(f"{r.name}: {'; '.join(map(str, r.msgs))}")
    return errors


def assert_cf_compliant(path: str | Path) -> None:
    errors = cf_errors(path)
    assert not errors, f"{path} fails CF checks:\n" + "\n".join(errors)
