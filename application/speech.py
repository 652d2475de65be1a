"""Offline speech synthesis: a :class:`SpeechSynthesizer` turns a short text into a WAV
file on this machine (no online speech service).

:class:`EspeakSynthesizer` runs ``espeak-ng -v <voice> --stdout`` with a timeout;
:class:`CachedSynthesizer` keeps recent results in memory (bounded in bytes), because the
same announcement and the same guidance repeat all day. What is said (the texts, in every
language) is the ui's business (``ui.voice``); this module only produces sound.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import threading
from collections import OrderedDict
from typing import Protocol

# espeak-ng voice per language. Chinese uses cmn-latn-pinyin, not cmn: in espeak-ng 1.51
# (Debian 12) the cmn voice turns hanzi into pinyin with tone digits and then reads those
# digits in English ("ni three hao three"); cmn-latn-pinyin reads them as tones.
VOICES: dict[str, str] = {"ja": "ja", "en": "en-us", "zh-Hans": "cmn-latn-pinyin", "ko": "ko"}
SPEED_WPM = 150  # a little slower than espeak-ng's 175: a waiting hall, older residents
TIMEOUT_S = 10.0
CACHE_BYTES = 32 * 1024 * 1024  # about 180 announcements of 4 s (22 kHz, 16-bit mono)


class SpeechError(Exception):
    """Speech could not be produced (root of this boundary's errors)."""


class SpeechUnavailable(SpeechError):
    """No speech engine is installed or configured: voice is off, nothing is broken."""


class SpeechBusy(SpeechError):
    """Too many syntheses are running at once; try again in a moment (nothing is broken)."""


class SpeechFailed(SpeechError):
    """The engine is there but failed or timed out on this text."""


class SpeechSynthesizer(Protocol):
    """Turns a short text into speech, offline. Implementations are thread-safe."""

    name: str

    def available(self) -> bool:
        """Whether :meth:`synthesize` can work now (the engine is installed).

        Cheap (a ``PATH`` look-up); called on every kiosk page and health check; never
        raises and never runs the engine.
        """
        ...

    def synthesize(self, text: str, voice: str) -> bytes:
        """A complete RIFF/WAVE file of ``text`` spoken with ``voice`` (an espeak-ng voice
        name, one of :data:`VOICES`' values).

        Raises :class:`SpeechUnavailable` when there is no engine and :class:`SpeechFailed`
        when it fails or takes too long. Must not log ``text`` at levels above DEBUG and
        must not reach the network.
        """
        ...


def fix_wav_sizes(data: bytes) -> bytes:
    """A WAV written to a pipe has placeholder sizes (espeak-ng writes 0x7ffff000 because
    it cannot seek back): set the RIFF and ``data`` chunk sizes from the real length.
    Raises :class:`SpeechFailed` when ``data`` is not a PCM WAV file."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SpeechFailed("not a RIFF/WAVE file")
    fixed = bytearray(data)
    fixed[4:8] = struct.pack("<I", len(data) - 8)
    offset = 12
    while offset + 8 <= len(data):
        chunk = data[offset : offset + 4]
        (size,) = struct.unpack("<I", data[offset + 4 : offset + 8])
        if chunk == b"data":
            fixed[offset + 4 : offset + 8] = struct.pack("<I", len(data) - offset - 8)
            return bytes(fixed)
        offset += 8 + size + (size & 1)
    raise SpeechFailed("WAV file without a data chunk")


class EspeakSynthesizer:
    """espeak-ng in a subprocess: ``<command> -v <voice> -s <speed> --stdout --stdin``.

    The text goes through standard input (never the command line, so it can never be
    taken for an option); a run that outlives ``timeout_s`` is killed.
    """

    name = "espeak-ng"

    def __init__(
        self,
        command: str = "espeak-ng",
        *,
        speed_wpm: int = SPEED_WPM,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.command = command
        self.speed_wpm = speed_wpm
        self.timeout_s = timeout_s

    def _program(self) -> str | None:
        return shutil.which(self.command) if self.command else None

    def available(self) -> bool:
        return self._program() is not None

    def synthesize(self, text: str, voice: str) -> bytes:
        program = self._program()
        if program is None:
            raise SpeechUnavailable(f"{self.command or 'espeak-ng'} is not installed")
        argv = [program, "-v", voice, "-s", str(self.speed_wpm), "-b", "1", "--stdout", "--stdin"]
        try:
            done = subprocess.run(
                argv, input=text.encode("utf-8"), capture_output=True, timeout=self.timeout_s
            )
        except subprocess.TimeoutExpired as e:
            raise SpeechFailed(f"espeak-ng took longer than {self.timeout_s:g} s") from e
        except OSError as e:
            raise SpeechUnavailable(f"cannot run {program}: {e}") from e
        if done.returncode != 0:
            reason = done.stderr.decode("utf-8", "replace").strip()[:200]
            raise SpeechFailed(f"espeak-ng exited with {done.returncode}: {reason}")
        return fix_wav_sizes(done.stdout)


class CachedSynthesizer:
    """A :class:`SpeechSynthesizer` that keeps recent WAVs in memory, least recently used
    first out, at most ``max_bytes`` in all. Failures are not cached. Two requests missing
    the same text at the same moment may both synthesize it (harmless, and rare).

    At most ``max_running`` syntheses run at once (each is an ``espeak-ng`` process); a miss
    that cannot start within ``wait_s`` raises :class:`SpeechBusy`. Sixteen parallel
    misses from the LAN used to slow every page about tenfold (issue 10); cache hits never
    wait."""

    def __init__(
        self,
        inner: SpeechSynthesizer,
        max_bytes: int = CACHE_BYTES,
        *,
        max_running: int = 2,
        wait_s: float = 3.0,
    ) -> None:
        self.inner = inner
        self._running = threading.BoundedSemaphore(max_running)
        self.wait_s = wait_s
        self.name = inner.name
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def available(self) -> bool:
        return self.inner.available()

    def synthesize(self, text: str, voice: str) -> bytes:
        key = (voice, text)
        with self._lock:
            wav = self._entries.get(key)
            if wav is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return wav
            self.misses += 1
        if not self._running.acquire(timeout=self.wait_s):
            raise SpeechBusy("too many syntheses at once; try again")
        try:
            wav = self.inner.synthesize(text, voice)
        finally:
            self._running.release()
        if len(wav) <= self.max_bytes:
            with self._lock:
                if key not in self._entries:
                    self._entries[key] = wav
                    self._bytes += len(wav)
                while self._bytes > self.max_bytes:
                    _, dropped = self._entries.popitem(last=False)
                    self._bytes -= len(dropped)
        return wav

    def stats(self) -> dict[str, int]:
        """Entries, bytes held, hits and misses (for ``/healthz``)."""
        with self._lock:
            return {
                "entries": len(self._entries),
                "bytes": self._bytes,
                "hits": self.hits,
                "misses": self.misses,
            }
