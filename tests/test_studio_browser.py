"""The studio in a real browser: Debian's headless Chromium driven by Selenium.

It opens the page, composes two tunes with the debug model, waits until a piece's audio
element reports a duration, its score and piano roll are drawn, stars it, reloads and
finds it starred in the gallery, downloads its MIDI and parses it. It saves screenshots
(``TUNESMITH_STUDIO_SCREENSHOTS=DIR`` keeps them there; by default in pytest's temporary
folder). Skipped, saying why, where Chromium, its driver or Selenium is missing
(``bash scripts/setup.sh`` installs them)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the studio's extras are not installed")
pytest.importorskip("selenium", reason="selenium is not installed (pip install selenium)")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="Debian's chromium and "
                                "chromium-driver are not installed (bash scripts/setup.sh)")

PRIMER = "M:6/8\nL:1/8\nK:D\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory, debug_run):
    import uvicorn

    from tunesmith.studio import bind
    from tunesmith.studio.config import StudioSettings
    from tunesmith.studio.server import create_app
    from tunesmith.studio.service import Studio

    data = tmp_path_factory.mktemp("browser-studio")
    settings = StudioSettings(data_dir=str(data / "data"), runs_dirs=(str(debug_run.parent),))
    app = create_app(settings, Studio(settings, cwd=data))
    sock = bind("127.0.0.1", 0)
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    end = time.monotonic() + 30
    while not srv.started and time.monotonic() < end:
        time.sleep(0.05)
    assert srv.started
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    srv.should_exit = True
    thread.join(20)


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1440,1000", "--autoplay-policy=no-user-gesture-required",
                "--mute-audio"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(60)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow",
                                                        "downloadPath": str(downloads)})
    yield driver
    driver.quit()


def shots(tmp_path_factory) -> Path:
    where = os.environ.get("TUNESMITH_STUDIO_SCREENSHOTS")
    folder = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def until(condition, timeout: float = 90, every: float = 0.25, what: str = ""):
    from selenium.common.exceptions import StaleElementReferenceException

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            value = condition()
        except StaleElementReferenceException:  # the page replaced it meanwhile: look again
            value = None
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what or condition}")


def test_compose_listen_look_star_reload_download(server, browser, downloads,
                                                   tmp_path_factory):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from tunesmith.io.midi import read_midi

    folder = shots(tmp_path_factory)
    browser.get(server)
    assert "tunesmith studio" in browser.title
    model = Select(browser.find_element(By.ID, "model"))
    debug = next(o.get_attribute("value") for o in model.options if o.text.startswith("debug"))
    model.select_by_value(debug)
    until(lambda: browser.find_element(By.CSS_SELECTOR, "#form-fields .form-fields")
          .get_attribute("data-model") == debug, 30, what="the debug model's form")

    def field(name):
        return browser.find_element(By.CSS_SELECTOR, f'#form-fields [data-field="{name}"]')

    for name, value in (("num", "2"), ("seed", "5"), ("max_len", "200")):
        field(name).clear()
        field(name).send_keys(value)
    field("primer").send_keys(PRIMER)
    until(lambda: browser.find_elements(By.CSS_SELECTOR, ".abc-preview svg"), 10,
          what="abcjs drawing the primer")
    browser.find_element(By.ID, "compose-button").click()

    def ready_card():
        """The id of a composed card whose audio, score and piano roll are all there."""
        return browser.execute_script("""
            for (const card of document.querySelectorAll('#results .card')) {
              const audio = card.querySelector('audio');
              const score = card.querySelector('.score img');
              const roll = card.querySelector('img.roll');
              const drawn = (img) => img && img.complete && img.naturalWidth > 0
                                     && img.getBoundingClientRect().height > 0;
              if (audio && audio.duration > 0 && drawn(score) && drawn(roll))
                return card.dataset.id;
            }
            return null;""")

    try:
        cid = until(ready_card, 120, what="a card with audio, score and piano roll")
    except AssertionError:
        browser.save_screenshot(str(folder / "studio-failed.png"))
        state = browser.execute_script("""return Array.from(document.querySelectorAll(
            '#results .card')).map(c => [c.dataset.id, c.querySelector('audio') &&
            [c.querySelector('audio').duration, c.querySelector('audio').error &&
             c.querySelector('audio').error.code], !!c.querySelector('.score img')])""")
        raise AssertionError(f"no card was ready: {state}; status "
                             f"{browser.find_element(By.ID, 'compose-status').text!r}, "
                             f"error {browser.find_element(By.ID, 'compose-error').text!r}"
                             ) from None
    until(lambda: browser.find_element(By.ID, "compose-button").is_enabled(), 60,
          what="the compose job to end")
    assert "composed" in browser.find_element(By.ID, "compose-status").text
    card = browser.find_element(By.CSS_SELECTOR, f'#results .card[data-id="{cid}"]')
    assert browser.execute_script(
        "return arguments[0].querySelector('audio').duration", card) > 0
    browser.save_screenshot(str(folder / "studio-compose.png"))

    card.find_element(By.CSS_SELECTOR, "button.star").click()
    until(lambda: browser.find_element(By.CSS_SELECTOR, f'#results .card[data-id="{cid}"] '
                                       "button.star").get_attribute("aria-pressed") == "true",
          20, what="the star")

    browser.refresh()
    browser.find_element(By.CSS_SELECTOR, '.tab[data-tab="gallery"]').click()
    starred = browser.find_element(By.CSS_SELECTOR, '#gallery-filter input[name="starred"]')
    starred.click()
    def only_the_starred():
        cards = browser.find_elements(By.CSS_SELECTOR, "#gallery-list .card")
        return cards if len(cards) == 1 and cards[0].get_attribute("data-id") == cid else None

    kept = until(only_the_starred, 20, what="the starred piece alone in the gallery")
    assert "starred" in kept[0].get_attribute("class")
    assert kept[0].find_element(By.CSS_SELECTOR, "button.star").text == "★"
    starred.click()
    until(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#gallery-list .card")) == 2, 20,
          what="both pieces in the gallery")
    browser.save_screenshot(str(folder / "studio-gallery.png"))

    link = browser.find_element(By.CSS_SELECTOR, f'#gallery-list .card[data-id="{cid}"] a.dl-mid')
    link.click()
    mid = until(lambda: [p for p in downloads.glob("*.mid")], 30, what="the MIDI download")
    until(lambda: not list(downloads.glob("*.crdownload")), 30)
    assert read_midi(mid[0]).notes
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors  # no script error, no failed request


def test_a_long_composition_survives_a_reload_and_stops_from_the_page(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(server)
    Select(browser.find_element(By.ID, "model")).select_by_value("shipped-events")
    until(lambda: browser.find_element(By.CSS_SELECTOR, "#form-fields .form-fields")
          .get_attribute("data-model") == "shipped-events", 30, what="the events form")
    seconds = browser.find_element(By.CSS_SELECTOR, '#form-fields [data-field="seconds"]')
    seconds.clear()
    seconds.send_keys("600")  # minutes of sampling, unless stopped
    browser.find_element(By.ID, "compose-button").click()
    until(lambda: "composing" in browser.find_element(By.ID, "compose-status").text, 30,
          what="the job to start")
    browser.refresh()  # the page comes back to the job still running
    stop = until(lambda: (lambda b: b if b.is_displayed() else None)(
        browser.find_element(By.ID, "compose-stop")), 30, what="the Stop button after a reload")
    assert not browser.find_element(By.ID, "compose-button").is_enabled()
    stop.click()
    until(lambda: browser.find_element(By.ID, "compose-status").text.startswith("stopped"), 60,
          what="the job to stop")
    assert browser.find_element(By.ID, "compose-button").is_enabled()
    assert not browser.find_element(By.ID, "compose-stop").is_displayed()
