"""Decoding DLE EOT answers into the printer's status and error types, with the byte values
of the ESC/POS command reference (not the simulator's)."""

from __future__ import annotations

import pytest

from application.printer import (
    CoverOpen,
    PaperOut,
    PrinterError,
    PrinterOffline,
    PrinterUnreachable,
    status_from_bytes,
)


def test_ready_printer_has_no_problem() -> None:
    """0x12 to DLE EOT 1, 2 and 4 (only the fixed bits) is a printer ready to print."""
    status = status_from_bytes(0x12, 0x12, 0x12)
    assert status.online and not status.paper_out and not status.cover_open
    assert status.problem is None
    assert status.to_json()["problem"] is None


def test_paper_out() -> None:
    """Offline (1: 0x1A), stopped by paper end (2: 0x32), roll end sensed (4: 0x7E) is
    paper out, code paper_out."""
    status = status_from_bytes(0x1A, 0x32, 0x7E)
    assert status.paper_out and status.paper_near_end and not status.online
    assert isinstance(status.problem, PaperOut)
    assert status.to_json()["problem"] == "paper_out"


def test_cover_open() -> None:
    """Offline with the cover-open bit (2: 0x16) is CoverOpen, code cover_open."""
    status = status_from_bytes(0x1A, 0x16, 0x12)
    assert status.cover_open
    assert isinstance(status.problem, CoverOpen)
    assert status.problem.code == "cover_open"


def test_cover_open_is_named_before_paper_out() -> None:
    """With the cover open and no paper, the cover is what staff must see to first."""
    assert isinstance(status_from_bytes(0x1A, 0x36, 0x7E).problem, CoverOpen)


def test_error_stop_is_offline() -> None:
    """Offline with the error bit (2: 0x52) is PrinterOffline, code printer_offline."""
    problem = status_from_bytes(0x1A, 0x52, 0x12).problem
    assert isinstance(problem, PrinterOffline)
    assert problem.code == "printer_offline"


def test_near_end_is_only_a_warning() -> None:
    """Paper near end (4: 0x1E) is reported but the printer still prints."""
    status = status_from_bytes(0x12, 0x12, 0x1E)
    assert status.paper_near_end and status.problem is None


@pytest.mark.parametrize("answers", [(0xFF, 0x12, 0x12), (0x12, 0x00, 0x12), (0x12, 0x12, 0x93)])
def test_not_a_status_byte(answers: tuple[int, int, int]) -> None:
    """A byte whose fixed bits are wrong is not a status: PrinterUnreachable, not a guess."""
    with pytest.raises(PrinterUnreachable):
        status_from_bytes(*answers)


def test_one_root_with_distinct_codes() -> None:
    """Every printer error is a PrinterError with its own code."""
    kinds = (PaperOut, CoverOpen, PrinterOffline, PrinterUnreachable)
    assert all(issubclass(kind, PrinterError) for kind in kinds)
    assert len({kind.code for kind in kinds}) == len(kinds)
