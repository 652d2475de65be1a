"""Offline voice: spoken texts per language, the WAV endpoints on the real espeak-ng, what
happens without a voice (a fake espeak-ng at the process edge), the cache, configuration."""

from __future__ import annotations

import io
import re
import shutil
import stat
import sys
import wave
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from application.speech import CachedSynthesizer, EspeakSynthesizer, SpeechFailed, SpeechUnavailable
from kiosk.catalog import contains_kanji
from kiosk.config import ConfigError, load_settings
from ui.services import services_of
from ui.voice import (
    GUIDE_SCREENS,
    SPOKEN_NOTICES,
    announcement_text,
    guide_text,
    spoken_counter,
    spoken_number,
)

LANGS = ("ja", "en", "zh-Hans", "ko")
TEMPLATES = Path(__file__).resolve().parents[2] / "ui" / "templates" / "kiosk"
# Anything espeak-ng's Japanese voice would spell out instead of reading.
NOT_KANA = re.compile(r"[A-Za-z]")

# A stand-in for espeak-ng: logs its arguments and input, answers a WAV with the
# placeholder sizes espeak-ng writes to a pipe; FAKE_MODE picks a failure instead.
FAKE_ESPEAK = """#!{python}
import os, struct, sys, time
text = sys.stdin.buffer.read().decode("utf-8")
with open({log!r}, "a", encoding="utf-8") as log:
    log.write(" ".join(sys.argv[1:]) + "\\t" + text + "\\n")
mode = {mode!r}
if mode == "fail":
    sys.stderr.write("no such voice\\n")
    sys.exit(1)
if mode == "hang":
    time.sleep(30)
frames = b"\\x00\\x01" * 22050 * 2  # two seconds of 22.05 kHz 16-bit mono
header = b"RIFF" + struct.pack("<I", 0x7FFFF024) + b"WAVE"
header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 22050, 44100, 2, 16)
header += b"data" + struct.pack("<I", 0x7FFFF000)
sys.stdout.buffer.write(header + frames)
"""


def fake_espeak(tmp_path: Path, mode: str = "ok") -> tuple[Path, Path]:
    """An executable fake espeak-ng in ``tmp_path`` and the log of its runs."""
    log = tmp_path / f"espeak-{mode}.log"
    program = tmp_path / f"espeak-{mode}"
    program.write_text(FAKE_ESPEAK.format(python=sys.executable, log=str(log), mode=mode))
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return program, log


def runs(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def duration_s(data: bytes) -> float:
    """Length of a WAV, after checking that its header sizes match the bytes."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert int.from_bytes(data[4:8], "little") == len(data) - 8
    with wave.open(io.BytesIO(data)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        assert w.getnframes() * 2 == len(data) - 44
        return w.getnframes() / w.getframerate()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The service with the real espeak-ng (installed by scripts/setup.sh)."""
    assert shutil.which("espeak-ng"), "Debian's espeak-ng is needed: run scripts/setup.sh"
    return make_app()


# --- what is said ---------------------------------------------------------------------------


def test_announcements_say_number_and_counter_in_each_language(app: Flask) -> None:
    """Counter 1's call of A-012: kana in Japanese, letter names, no leading zeros."""
    counter = services_of(app).catalog.counters[0]
    said = {}
    with app.test_request_context():
        for lang in LANGS:
            name = spoken_counter(counter.code, counter.names, counter.spoken, lang)
            said[lang] = announcement_text("A-012", name, lang)
    assert said["ja"] == "えー の 12ばん の かた、 いちばん まどぐち え おこしください。"
    assert not contains_kanji(said["ja"]) and not NOT_KANA.search(said["ja"])
    assert said["en"] == "Number A-12, please come to Counter 1."
    assert said["zh-Hans"] == "请 A 12号 到 1号窗口 办理。"
    assert said["ko"] == "에이 12번 고객님, 1번 창구 쪽으로 와 주십시오."


def test_prefix_letters_are_spoken_as_letter_names() -> None:
    """Japanese and Korean say the prefix letters' names; English keeps them apart."""
    assert spoken_number("B-007", "ja") == "びー の 7ばん"
    assert spoken_number("AW-100", "ja") == "えー だぶりゅー の 100ばん"
    assert spoken_number("D-003", "ko") == "디 3번"
    assert spoken_number("AB-012", "en") == "A-B-12"
    assert spoken_number("C-001", "zh-Hans") == "C 1号"
    with pytest.raises(ValueError):
        spoken_number("山田", "ja")  # numbers only, never anything else


def test_counter_without_spoken_form_is_never_read_in_kanji() -> None:
    """Without a spoken form Japanese falls back to the code or "the counter shown";
    other languages say the written name."""
    names = {"ja": "3番窓口", "en": "Counter 3", "zh-Hans": "3号窗口", "ko": "3번 창구"}
    assert spoken_counter("3", names, {}, "ja") == "3ばん まどぐち"
    assert spoken_counter("tax", {**names, "ja": "税窓口"}, {}, "ja") == "ひょうじ の まどぐち"
    assert spoken_counter("9", {**names, "ja": "まどぐち きゅう"}, {}, "ja") == "まどぐち きゅう"
    assert spoken_counter("3", names, {}, "ko") == "3번 창구"
    assert spoken_counter("3", names, {"en": "window three"}, "en") == "window three"


def test_every_screen_guide_is_translated_and_japanese_is_kana(app: Flask) -> None:
    """Each kiosk screen has an instruction in all four languages; the Japanese one has
    neither kanji nor Latin letters (the voice would spell them)."""
    with app.test_request_context():
        for screen in GUIDE_SCREENS:
            english = guide_text(screen, "en")
            ja = guide_text(screen, "ja")
            assert not contains_kanji(ja) and not NOT_KANA.search(ja), (screen, ja)
            for lang in ("ja", "zh-Hans", "ko"):
                assert guide_text(screen, lang) != english, (screen, lang)
        with pytest.raises(KeyError):
            guide_text("nope", "ja")


def test_every_spoken_notice_is_translated_and_japanese_is_kana(app: Flask) -> None:
    """What the kiosk says by itself (someone is coming, the number keypad's digit count) is
    in all four languages, kana in Japanese, and served as audio."""
    client = app.test_client()
    with app.test_request_context():
        for notice in SPOKEN_NOTICES:
            english = guide_text(notice, "en")
            ja = guide_text(notice, "ja")
            assert not contains_kanji(ja) and not NOT_KANA.search(ja), (notice, ja)
            for lang in ("ja", "zh-Hans", "ko"):
                assert guide_text(notice, lang) != english, (notice, lang)
    for notice in ("pin_keypad", "pin_digits_4"):
        response = client.get(f"/api/voice/guide/{notice}.wav?lang=ja")
        assert response.status_code == 200 and duration_s(response.data) > 1.0, notice


def test_every_kiosk_template_names_a_known_guide() -> None:
    """Each resident screen tells the layout which instruction its read-aloud button says."""
    named: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text(encoding="utf-8")
        if '{% extends "kiosk/layout.html" %}' not in text:
            continue
        found = re.search(r"{% set guide = (.+?) %}", text)
        assert found, f"{template.name} sets no guide"
        keys = set(re.findall(r"(?<!== )'([a-z_]+)'", found.group(1)))  # not compared values
        assert keys and keys <= set(GUIDE_SCREENS), template.name
        named |= keys
    assert named == set(GUIDE_SCREENS)


# --- the endpoints on the real espeak-ng ------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_call_audio_is_a_wav_of_plausible_length(app: Flask, lang: str) -> None:
    """/api/voice/call.wav answers a valid RIFF/WAVE of a few seconds in each language."""
    response = app.test_client().get(f"/api/voice/call.wav?number=A-012&counter=1&lang={lang}")
    assert response.status_code == 200
    assert response.mimetype == "audio/wav"
    assert 2.0 < duration_s(response.data) < 12.0


def test_guide_audio_for_every_screen(app: Flask) -> None:
    """Every screen's instruction is a WAV; longer texts give longer audio."""
    client = app.test_client()
    lengths = {}
    for screen in GUIDE_SCREENS:
        response = client.get(f"/api/voice/guide/{screen}.wav?lang=ja")
        assert response.status_code == 200, screen
        lengths[screen] = duration_s(response.data)
    assert 1.5 < lengths["staff_called"] < lengths["welcome"] < 30.0
    response = client.get("/api/voice/guide/welcome.wav?lang=zh-Hans")
    assert response.status_code == 200 and duration_s(response.data) > 2.0


def test_bad_requests_are_4xx_json(app: Flask) -> None:
    """Unknown screens, counters, languages and anything but a ticket number are refused."""
    client = app.test_client()
    cases = {
        "/api/voice/guide/nope.wav?lang=ja": (404, "not_found"),
        "/api/voice/guide/welcome.wav?lang=fr": (400, "bad_request"),
        "/api/voice/call.wav?number=A-012&counter=99&lang=ja": (404, "not_found"),
        "/api/voice/call.wav?number=Yamada&counter=1&lang=ja": (400, "bad_request"),
        "/api/voice/call.wav?number=A-012&lang=ja": (400, "bad_request"),
        "/api/voice/call.wav?number=A-012&counter=1&lang=xx": (400, "bad_request"),
    }
    for url, (status, code) in cases.items():
        response = client.get(url)
        assert response.status_code == status, url
        assert response.get_json()["error"]["code"] == code, url


def test_asking_another_language_does_not_change_the_session(app: Flask) -> None:
    """A board asking for English audio keeps its page in Japanese (no session change)."""
    client = app.test_client()
    client.get("/api/voice/call.wav?number=A-012&counter=1&lang=en")
    with client.session_transaction() as sess:
        assert "lang" not in sess


def test_health_reports_the_voice(app: Flask) -> None:
    """/healthz says the voice is available, which languages the board speaks, the cache."""
    body = app.test_client().get("/healthz").get_json()
    assert body["voice"]["available"] is True
    assert body["voice"]["engine"] == "espeak-ng"
    assert body["voice"]["announce_languages"] == ["ja", "en"]
    assert set(body["voice"]["cache"]) == {"entries", "bytes", "hits", "misses"}


def test_pages_offer_voice_when_it_is_available(app: Flask) -> None:
    """The kiosk shows a read-aloud button in the screen's language; the board announces."""
    client = app.test_client()
    html = client.get("/kiosk/?lang=en").get_data(as_text=True)
    assert 'data-read-aloud="/api/voice/guide/welcome.wav?lang=en"' in html
    assert "Read aloud" in html
    html = client.get("/kiosk/?lang=ja").get_data(as_text=True)
    assert "音声案内" in html
    assert 'data-voice-langs="ja,en"' in client.get("/board/").get_data(as_text=True)


# --- without a voice: a fake espeak-ng at the process edge -------------------------------------


def test_without_espeak_the_service_works_silently(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    """A missing program: 503 voice_unavailable, healthy service, no button, board chimes only."""
    app = make_app(voice_command=str(tmp_path / "no-espeak-here"))
    client = app.test_client()
    for url in (
        "/api/voice/call.wav?number=A-012&counter=1&lang=ja",
        "/api/voice/guide/welcome.wav?lang=ja",
    ):
        response = client.get(url)
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "voice_unavailable"
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.get_json()["voice"]["available"] is False
    assert "read-aloud" not in client.get("/kiosk/").get_data(as_text=True)
    assert 'data-voice-langs=""' in client.get("/board/").get_data(as_text=True)


def test_a_failing_engine_is_503_and_not_cached(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    """An engine that exits non-zero gives 503 each time (a failure is never cached)."""
    program, log = fake_espeak(tmp_path, "fail")
    client = make_app(voice_command=str(program)).test_client()
    for _ in range(2):
        response = client.get("/api/voice/guide/pin.wav?lang=ja")
        assert response.status_code == 503
    assert len(runs(log)) == 2


def test_a_hanging_engine_is_stopped_by_the_timeout(tmp_path: Path) -> None:
    """espeak-ng that does not finish is killed after the timeout: SpeechFailed."""
    program, _ = fake_espeak(tmp_path, "hang")
    with pytest.raises(SpeechFailed, match="longer than"):
        EspeakSynthesizer(str(program), timeout_s=0.5).synthesize("えー", "ja")
    with pytest.raises(SpeechUnavailable):
        EspeakSynthesizer("").synthesize("えー", "ja")


def test_text_goes_through_stdin_with_the_language_voice(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    """The text reaches espeak-ng on standard input (never argv), with the voice of the
    language; the WAV's placeholder sizes are fixed."""
    program, log = fake_espeak(tmp_path)
    client = make_app(voice_command=str(program)).test_client()
    response = client.get("/api/voice/call.wav?number=B-007&counter=2&lang=zh-Hans")
    assert response.status_code == 200
    assert duration_s(response.data) == pytest.approx(2.0)
    (run,) = runs(log)
    argv, text = run.split("\t")
    assert argv.startswith("-v cmn-latn-pinyin ") and "--stdin" in argv and "B" not in argv
    assert text == "请 B 7号 到 2号窗口 办理。"


def test_the_same_text_is_synthesized_once(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    """Repeated announcements and guides come from the cache; another language is new."""
    program, log = fake_espeak(tmp_path)
    app = make_app(voice_command=str(program))
    client = app.test_client()
    for _ in range(3):
        assert client.get("/api/voice/call.wav?number=A-001&counter=1&lang=ja").status_code == 200
        assert client.get("/api/voice/guide/card.wav?lang=ko").status_code == 200
    assert len(runs(log)) == 2
    assert client.get("/api/voice/call.wav?number=A-001&counter=1&lang=en").status_code == 200
    assert len(runs(log)) == 3
    stats = app.test_client().get("/healthz").get_json()["voice"]["cache"]
    assert stats["entries"] == 3 and stats["hits"] == 4 and stats["misses"] == 3


def test_cache_is_bounded_least_recently_used_first_out(tmp_path: Path) -> None:
    """The cache never holds more than its byte limit and drops the oldest-used entry."""
    program, log = fake_espeak(tmp_path)
    one_wav = len(EspeakSynthesizer(str(program)).synthesize("x", "ja"))
    cache = CachedSynthesizer(EspeakSynthesizer(str(program)), max_bytes=2 * one_wav)
    cache.synthesize("いち", "ja")
    cache.synthesize("に", "ja")
    cache.synthesize("いち", "ja")  # used again: "に" is now the oldest
    cache.synthesize("さん", "ja")  # evicts "に"
    assert cache.stats()["entries"] == 2 and cache.stats()["bytes"] <= 2 * one_wav
    before = len(runs(log))
    cache.synthesize("いち", "ja")
    assert len(runs(log)) == before
    cache.synthesize("に", "ja")
    assert len(runs(log)) == before + 1


# --- configuration --------------------------------------------------------------------------


def test_announce_languages_are_validated_and_ordered() -> None:
    """KIOSK_ANNOUNCE_LANGUAGES keeps its order; unknown or repeated languages fail."""
    settings = load_settings(environ={"KIOSK_ANNOUNCE_LANGUAGES": "en, ko,zh-Hans"})
    assert settings.announce_language_list == ("en", "ko", "zh-Hans")
    assert load_settings(environ={"KIOSK_ANNOUNCE_LANGUAGES": ""}).announce_language_list == ()
    for bad in ("ja,fr", "ja,ja"):
        with pytest.raises(ConfigError, match="KIOSK_ANNOUNCE_LANGUAGES"):
            load_settings(environ={"KIOSK_ANNOUNCE_LANGUAGES": bad})


def test_board_announces_in_the_configured_order(make_app: Callable[..., Flask]) -> None:
    """The board page carries the configured languages, in order; empty = chime only."""
    html = make_app(announce_languages="ko,ja").test_client().get("/board/").get_data(True)
    assert 'data-voice-langs="ko,ja"' in html
