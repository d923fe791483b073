"""Seed-example suite configuration: markers for the features that come later."""


def pytest_configure(config):
    config.addinivalue_line("markers", "pg: seed example needing placement groups (issue 5)")
    config.addinivalue_line(
        "markers", "scheduling: seed example needing scheduling strategies (issue 5)"
    )
    config.addinivalue_line("markers", "timing: seed example whose wall time is also checked")
