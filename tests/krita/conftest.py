"""Marks for the Krita tests (`-m e2e` runs only the real-Krita end-to-end test, `-m "not e2e"`
everything else), and the fixtures of the controller tests: the fake `krita` application and a
controller connected to the real daemon."""

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: runs the real Krita under Xvfb (slow, needs Krita)")


@pytest.fixture
def app():
    from tests.krita import fake_krita

    fake_krita.install()
    return fake_krita.Krita.instance()


@pytest.fixture
def controller(app, daemon):
    from krita_plugin.impasto.controller import Controller

    c = Controller(app, daemon.endpoint)
    yield c
    c.close()
