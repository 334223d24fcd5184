"""Collects the measured parity errors of the adapter tests and prints them after the run."""
import pytest
import torch

_MEASURED: list[tuple[str, float]] = []


@pytest.fixture(autouse=True)
def _seeded():
    """Unseeded draws in the tests are still reproducible (the figures below are stable)."""
    torch.manual_seed(0)


@pytest.fixture
def record():
    """record(name, value): keep a measured figure (e.g. max relative error) for the summary."""

    def _record(name: str, value: float) -> float:
        _MEASURED.append((name, float(value)))
        return float(value)

    return _record


def pytest_terminal_summary(terminalreporter):
    if not _MEASURED:
        return
    terminalreporter.section("adapter: measured figures")
    for name, value in _MEASURED:
        terminalreporter.write_line(f"{name:<60} {value:.3e}")
