"""Seed-example suite configuration: markers grouping the scripts by feature."""


def pytest_configure(config):
    config.addinivalue_line("markers", "pg: seed example using placement groups")
    config.addinivalue_line(
        "markers", "scheduling: seed example using scheduling strategies"
    )
    config.addinivalue_line("markers", "timing: seed example that also reports the least time it must take")
