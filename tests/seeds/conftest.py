"""Seed-example suite configuration: markers for the features that come later."""


def pytest_configure(config):
    config.addinivalue_line("markers", "pg: seed example needing placement groups (issue 5)")
    config.addinivalue_line(
        "markers", "scheduling: seed example needing scheduling strategies (issue 5)"
    )
    config.addinivalue_line("markers", "timing: seed example whose wall time is also checked")


def pytest_collection_modifyitems(config, items):
    """Placement groups arrive with issue 5: their seed scripts are skipped until then (set
    EDGERAY_SEEDS_PG=1 to run them anyway)."""
    import os

    import pytest

    if os.environ.get("EDGERAY_SEEDS_PG") == "1":
        return
    skip = pytest.mark.skip(reason="placement groups are issue 5 (not implemented yet)")
    for item in items:
        if "pg" in item.keywords:
            item.add_marker(skip)
