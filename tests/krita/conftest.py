"""Marks for the Krita tests: `-m e2e` runs only the real-Krita end-to-end test, `-m "not e2e"`
everything else."""


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: runs the real Krita under Xvfb (slow, needs Krita)")
