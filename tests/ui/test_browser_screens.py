"""The kiosk on its real screen, a 1080 x 1920 portrait touch screen, in Debian's Chromium:
type large enough for elderly eyes, large targets, no overlapping keys, the whole screen
used; the idle warning hides the visit; every visit starts in Japanese. Screenshots:
``test-artifacts/screenshots/portrait-*.png``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.ui.browser import BROWSER_MARKS, Served, shot
from tests.ui.conftest import enrol_as_kiosk_screen
from tests.ui.test_browser_a11y import Audit

pytestmark = BROWSER_MARKS

SCREEN = {"width": 1080, "height": 1920}
MIN_TEXT_PX = 24
MIN_TARGET_PX = 64

# Text a resident reads, under ``min`` px: tag.class, size and text of each.
SMALL_TEXT = """(min) => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.trim();
    const el = node.parentElement;
    if (!text || !el) continue;
    if (el.closest('.visually-hidden, script, style, template, .skip-link, [hidden]')) continue;
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (!box.width || !box.height || style.visibility === 'hidden') continue;
    const size = parseFloat(style.fontSize);
    if (size < min) out.push(`${el.tagName}.${el.className} ${size}px ${text.slice(0, 24)}`);
  }
  return out;
}"""

# Touch targets under ``min`` x ``min`` px (radio buttons and check boxes are tapped
# through their labels, which are measured instead; text links in sentences are exempt).
SMALL_TARGETS = """(min) => Array.from(document.querySelectorAll(
    'button, a.btn, .langs a, label.choice-card, label.radio, label.chip, label.toggle,'
    + ' input[type=text], input[type=number]'))
  .filter((el) => el.offsetParent !== null && getComputedStyle(el).visibility !== 'hidden')
  .filter((el) => !el.closest('.visually-hidden, .skip-link'))
  .filter((el) => { const r = el.getBoundingClientRect(); return r.width < min || r.height < min; })
  .map((el) => `${el.tagName}.${el.className} ${el.textContent.trim().slice(0, 20)}`)"""

# Keys of the on-screen keyboard that overlap another key or stick out of the keyboard.
KEY_CLASHES = """() => {
  const panel = document.getElementById('osk').getBoundingClientRect();
  const keys = Array.from(document.querySelectorAll('#osk button'))
    .filter((b) => b.offsetParent !== null)
    .map((b) => ({ name: b.textContent.trim() || b.getAttribute('aria-label'),
                   r: b.getBoundingClientRect() }));
  const out = [];
  keys.forEach((a, i) => {
    if (a.r.left < panel.left - 0.5 || a.r.right > panel.right + 0.5 ||
        a.r.bottom > panel.bottom + 0.5 || a.r.right > innerWidth + 0.5) {
      out.push(`${a.name} outside the keyboard`);
    }
    keys.slice(i + 1).forEach((b) => {
      const w = Math.min(a.r.right, b.r.right) - Math.max(a.r.left, b.r.left);
      const h = Math.min(a.r.bottom, b.r.bottom) - Math.max(a.r.top, b.r.top);
      if (w > 0.5 && h > 0.5) out.push(`${a.name} overlaps ${b.name}`);
    });
  });
  return out;
}"""


@pytest.fixture
def kiosk_screen(browser: Any) -> Iterator[Any]:
    """A page the size and shape of the kiosk: 1080 x 1920 portrait, a touch screen, in a
    browser whose own language is English (the kiosk must not follow it)."""
    context = browser.new_context(viewport=SCREEN, has_touch=True, locale="en-US")
    enrol_as_kiosk_screen(context)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def _check_screen(page: Any, name: str, audit: Audit, *, bottom_actions: bool = True) -> None:
    """Text >= 24 px, targets >= 64 px, and (``bottom_actions``) the page's own buttons in
    the lowest fifth of the screen: the whole portrait screen is used; axe checks it."""
    audit.check(page, name)
    assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 26
    assert page.evaluate(SMALL_TEXT, MIN_TEXT_PX) == [], name
    assert page.evaluate(SMALL_TARGETS, MIN_TARGET_PX) == [], name
    if bottom_actions:
        bottom = page.evaluate(
            "() => { const a = document.querySelector('main .actions, .hero form');"
            " return a.getBoundingClientRect().bottom; }"
        )
        assert bottom > 0.8 * SCREEN["height"], (name, bottom)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_step_on_the_portrait_kiosk(
    serve: Callable[..., Served], kiosk_screen: Any, lang: str
) -> None:
    """A visit with a 住民票 and a 戸籍 on the portrait screen: every step has body text of at
    least 26 px (nothing read under 24 px), targets of at least 64 px, its buttons at the
    bottom of the screen; the on-screen keyboard's keys never overlap (村 used to sit under
    完了) and stay inside it; axe finds nothing moderate or worse."""
    page = kiosk_screen
    audit = Audit()
    served = serve(sim_persona="yamada", sim_terminal_auto="approve")
    page.goto(f"{served.url}/kiosk/?lang={lang}")
    _check_screen(page, "welcome", audit)
    shot(page, f"portrait-{lang}-01-welcome", full_page=False)
    page.tap("#start")
    page.wait_for_url(re.compile(r"/kiosk/procedures$"))
    _check_screen(page, "procedures", audit)
    page.tap("label.choice-card:has(input[value='juminhyo'])")
    page.tap("label.choice-card:has(input[value='koseki'])")
    shot(page, f"portrait-{lang}-02-procedures", full_page=False)
    page.tap("main button[type=submit].btn-primary")
    page.wait_for_url(re.compile(r"/kiosk/fields$"))
    _check_screen(page, "fields", audit, bottom_actions=False)
    shot(page, f"portrait-{lang}-03-fields", full_page=False)
    page.tap("#f-koseki-honseki")
    page.wait_for_selector("#osk:not([hidden])")
    for layout in ("kana", "latin", "digits", "kata"):
        page.tap(f"#osk .osk-tab[data-layout='{layout}']")
        assert page.evaluate(KEY_CLASHES) == [], layout
        _check_screen(page, f"keyboard-{layout}", audit, bottom_actions=False)
    page.tap("#osk .osk-tab[data-layout='kana']")
    village = page.locator("#osk").get_by_role("button", name="村", exact=True)
    done = page.locator("#osk [data-done]")
    assert village.is_visible() and done.is_visible()
    shot(page, f"portrait-{lang}-04-keyboard", full_page=False)
    for key in ("か", "た", "ま"):
        page.locator("#osk").get_by_role("button", name=key, exact=True).first.tap()
    village.tap()
    assert page.input_value("#f-koseki-honseki") == "かたま村"
    done.tap()
    page.tap("#f-koseki-hittousha")
    page.tap("#osk .osk-tab[data-layout='kana']")
    page.locator("#osk").get_by_role("button", name="や", exact=True).first.tap()
    page.tap("#osk [data-done]")
    page.tap("main button[type=submit].btn-primary")
    page.wait_for_url(re.compile(r"/kiosk/card$"))
    served.rig.insert("yamada")  # one card, one visit: the card goes in once it is asked for
    page.wait_for_url(re.compile(r"/kiosk/pin$"))
    _check_screen(page, "pin", audit)
    shot(page, f"portrait-{lang}-05-pin", full_page=False)
    for digit in "1234":
        page.tap(f".pinpad [data-digit='{digit}']")
    page.tap("#pin-ok")
    page.wait_for_url(re.compile(r"/kiosk/check$"))
    _check_screen(page, "check", audit, bottom_actions=False)
    shot(page, f"portrait-{lang}-06-check", full_page=False)
    page.tap("#confirm")
    page.wait_for_url(re.compile(r"/kiosk/pay$"))
    _check_screen(page, "pay", audit, bottom_actions=False)
    shot(page, f"portrait-{lang}-07-pay", full_page=False)
    page.tap("#pay-start")
    page.wait_for_url(re.compile(r"/kiosk/ticket$"))
    _check_screen(page, "ticket", audit)
    # One ticket through both queues: the family register first, then certificates.
    route = page.locator("#ticket-route li").all_inner_texts()
    assert route == (["戸籍", "証明書"] if lang == "ja" else ["Family register", "Certificates"])
    next_in_line = "つぎが あなたの 番です" if lang == "ja" else "You are next"
    assert page.inner_text("#wait") == next_in_line
    issued = page.inner_text("#issued")
    assert not re.search(r"\d+/\d+/\d+", issued), issued  # never 12/2/26
    shot(page, f"portrait-{lang}-08-ticket", full_page=False)
    page.tap("#receipt")
    page.wait_for_url(re.compile(r"/kiosk/receipt$"))
    _check_screen(page, "receipt", audit)
    shot(page, f"portrait-{lang}-09-receipt", full_page=False)
    assert [v for v in audit.seen if "(minor)" not in v] == []


def test_the_idle_warning_hides_everything_personal(
    serve: Callable[..., Served], kiosk_screen: Any
) -> None:
    """On the check screen (name, address, birth date shown) the inactivity warning covers
    the whole screen: none of them can be read, or found by a tap, behind it; "continue"
    brings the screen back."""
    page = kiosk_screen
    served = serve(sim_persona="yamada", idle_timeout_s=30, idle_warning_s=28)
    page.goto(f"{served.url}/kiosk/?lang=ja")
    page.tap("#start")
    page.tap("label.choice-card:has(input[value='juminhyo'])")
    page.tap("main button[type=submit].btn-primary")
    page.tap("main button[type=submit].btn-primary")
    page.wait_for_url(re.compile(r"/kiosk/card$"))
    served.rig.insert("yamada")
    page.wait_for_url(re.compile(r"/kiosk/pin$"))
    for digit in "1234":
        page.tap(f".pinpad [data-digit='{digit}']")
    page.tap("#pin-ok")
    page.wait_for_url(re.compile(r"/kiosk/check$"))
    personal = page.locator(".readonly dd")
    assert "山田" in personal.first.inner_text()
    page.wait_for_selector("#idle:not([hidden])", timeout=8_000)
    shot(page, "portrait-ja-10-idle-warning", full_page=False)
    for i in range(personal.count()):
        item = personal.nth(i)
        assert item.evaluate("(el) => getComputedStyle(el).visibility") == "hidden"
        covering = item.evaluate(
            "(el) => { const r = el.getBoundingClientRect();"
            " return document.elementFromPoint(r.left + 2, r.top + 2).closest('#idle') !== null; }"
        )
        assert covering, i
    opaque = page.evaluate("getComputedStyle(document.getElementById('idle')).backgroundColor")
    assert opaque.startswith("rgb(") and "rgba" not in opaque, opaque
    page.tap("#idle-continue")
    assert page.locator("#idle").is_hidden()
    assert personal.first.is_visible()


def test_every_new_visit_starts_in_japanese(
    serve: Callable[..., Served], kiosk_screen: Any
) -> None:
    """A browser set to English still opens the kiosk in Japanese; a resident who chose
    English leaves the next one a Japanese screen, whether they finish, time out, or leave
    the welcome screen in English untouched."""
    page = kiosk_screen
    served = serve(idle_timeout_s=5, idle_warning_s=3)  # no card on the reader
    page.goto(f"{served.url}/kiosk/")
    assert page.get_attribute("html", "lang") == "ja"
    # chosen English, finished: the next welcome is Japanese
    _choose_english(page)
    page.tap("#start")
    page.wait_for_url(re.compile(r"/kiosk/procedures$"))
    assert page.get_attribute("html", "lang") == "en"
    page.tap("button[type=submit]:has-text('Start over')")  # confirm() is accepted below
    page.wait_for_url(re.compile(r"/kiosk/$"))
    assert page.get_attribute("html", "lang") == "ja"
    # chosen English, timed out in the visit: Japanese again
    _choose_english(page)
    page.tap("#start")
    page.wait_for_url(re.compile(r"/kiosk/procedures$"))
    page.wait_for_url(re.compile(r"/kiosk/\?ended=1$"), timeout=10_000)
    assert page.get_attribute("html", "lang") == "ja"
    shot(page, "portrait-ja-11-after-timeout", full_page=False)
    # English left on the welcome screen: back to Japanese after the idle time
    _choose_english(page)
    page.wait_for_url(re.compile(r"/kiosk/\?lang=ja$"), timeout=10_000)
    assert page.get_attribute("html", "lang") == "ja"


def _choose_english(page: Any) -> None:
    """The resident taps "English" on the welcome screen."""
    page.tap("#main a.btn-lang[lang='en']")
    page.wait_for_url(re.compile(r"lang=en$"))
    assert page.get_attribute("html", "lang") == "en"


@pytest.fixture(autouse=True)
def _accept_confirms(kiosk_screen: Any) -> None:
    """ "Start over" asks for confirmation: the resident says yes."""
    kiosk_screen.on("dialog", lambda dialog: dialog.accept())
