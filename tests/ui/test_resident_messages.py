"""Messages a resident can meet outside the kiosk's own screens (the read-aloud audio
endpoint, the resident side of the JSON API) come in Chinese and Korean too, not English."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.mark.parametrize(
    ("lang", "text"),
    [("ja", "見つかりません。"), ("zh-Hans", "未找到。"), ("ko", "찾을 수 없습니다.")],
)
def test_unknown_read_aloud_screen_is_not_found_in_the_language(
    app: Flask, lang: str, text: str
) -> None:
    """The kiosk's read-aloud endpoint answers an unknown screen in the asked language."""
    response = app.test_client().get(f"/api/voice/guide/nowhere.wav?lang={lang}")
    assert response.status_code == 404
    assert response.get_json()["error"] == {"code": "not_found", "message": text}


@pytest.mark.parametrize(
    ("lang", "ended", "missing"),
    [
        ("zh_Hans", "本次办理已结束或不存在。", "未找到。"),
        ("ko", "이용이 끝났거나 존재하지 않습니다.", "찾을 수 없습니다."),
    ],
)
def test_resident_api_errors_in_chinese_and_korean(
    app: Flask, lang: str, ended: str, missing: str
) -> None:
    """An ended visit and an unknown path of the JSON API say so in the resident's language."""
    client = app.test_client()
    body = client.get(f"/api/visits/no-such-visit?lang={lang}").get_json()
    assert body["error"]["message"] == ended
    body = client.get(f"/api/no-such-thing?lang={lang}").get_json()
    assert body["error"] == {"code": "not_found", "message": missing}


@pytest.mark.parametrize(
    ("lang", "wrong", "locked"),
    [
        ("ja", "利用者証明用の 暗証番号が ちがいます。あと2回です。", "ロックされています"),
        ("zh-Hans", "用户证明用电子证书的密码不正确。还剩2次。", "已被锁定"),
        ("ko", "전자증명서의 비밀번호가 틀렸습니다. 2번 남았습니다.", "잠겨 있습니다"),
        ("en", "certificate is not correct. 2 tries left.", "is locked"),
    ],
)
def test_jpki_pin_errors_name_their_pin_in_every_language(
    app: Flask, lang: str, wrong: str, locked: str
) -> None:
    """The JPKI authentication PIN's errors are their own messages (never the Text PIN's)."""
    from ui.i18n import card_error_message

    with app.test_request_context(f"/?lang={lang}"):
        assert wrong in card_error_message("jpki_wrong_pin", 2)
        assert locked in card_error_message("jpki_pin_locked", 0)
        assert card_error_message("jpki_pin_would_lock", 1) != card_error_message(
            "pin_would_lock", 1
        )
        assert card_error_message("jpki_bad_pin_format") != card_error_message("bad_pin_format")


def test_the_service_refuses_to_start_without_compiled_translations(tmp_path) -> None:
    """A language whose catalog was never compiled stops start-up with the command that
    compiles it (nothing is compiled at run time)."""
    import shutil

    from ui.i18n import TRANSLATIONS_DIR, TranslationsNotCompiled, require_compiled

    copy = tmp_path / "translations"
    shutil.copytree(TRANSLATIONS_DIR, copy)
    require_compiled(copy)
    (copy / "ko" / "LC_MESSAGES" / "messages.mo").unlink()
    with pytest.raises(TranslationsNotCompiled, match="ko: run scripts/setup.sh"):
        require_compiled(copy)
