def pytest_configure(config):
    config.addinivalue_line(
        "markers", "zipapp: builds dist/edgeray.pyz and runs it with a bare interpreter"
    )
