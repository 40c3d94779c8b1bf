"""The review app in a real headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium), served by a real ``htr serve``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from recognition.keywords import DEFAULT_MIN_PROB
from tests.fixtures import seed_document
from tests.services import free_port, wait_port
from worker.db import make_engine, session_factory, upgrade
from worker.db.users import add_token, add_user
from worker.io.store import LocalStore

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
LINES = [
    [("Dear", 0.95), ("Mr", 0.90), ("Gaitskel", 0.21)],
    [("the", 0.97), ("meeting", 0.40), ("is", 0.98)],
    [("on", 0.99), ("Tuesday", 0.35), ("next", 0.92)],
    [("yours", 0.99), ("sincerely", 0.97)],
]


@pytest.fixture
def served(tmp_path):
    db = f"sqlite:///{tmp_path / 'htr.sqlite'}"
    upgrade(db)
    engine = make_engine(db)
    sessions = session_factory(engine)
    doc_id = seed_document(sessions, LocalStore(tmp_path / "store"), tmp_path / "letter.png", LINES)
    with sessions() as s:
        add_user(s, "rita", "correct horse", "reviewer")
        s.commit()
    engine.dispose()
    port = free_port()
    env = {**os.environ, "HTR_DATABASE_URL": db, "HTR_STORE_URL": f"file://{tmp_path / 'store'}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_port("127.0.0.1", port, timeout=60)
        yield f"http://127.0.0.1:{port}", doc_id
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
        raise RuntimeError("chromium and chromium-driver are not installed (scripts/setup.sh installs them)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900", "--disable-gpu"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.mark.slow
@pytest.mark.services
def test_review_three_lines_with_the_keyboard(served, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    url, doc_id = served
    wait = WebDriverWait(browser, 15)

    # Anonymous: the page sends the browser to the login; the API and images answer 401.
    browser.get(f"{url}/review")
    assert "/login" in browser.current_url
    assert httpx.get(f"{url}/api/documents").status_code == 401
    assert httpx.get(f"{url}/pages/1/image").status_code == 401

    browser.find_element(By.NAME, "name").send_keys("rita")
    browser.find_element(By.NAME, "password").send_keys("correct horse", Keys.ENTER)
    wait.until(ec.url_contains("/review"))
    wait.until(lambda d: d.find_element(By.ID, "left").text == "4 lines left")

    # The session cookie alone does not change anything: a PUT without the CSRF token is refused.
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    assert "htr_session" in cookies
    first = browser.find_element(By.CSS_SELECTOR, ".item").get_attribute("data-id")
    refused = httpx.put(f"{url}/api/lines/{first}", json={"text": "forged"}, cookies=cookies)
    assert refused.status_code == 403

    items = browser.find_elements(By.CSS_SELECTOR, ".item input")
    assert [i.get_attribute("value") for i in items] == [
        "Dear Mr Gaitskel",
        "on Tuesday next",
        "the meeting is",
        "yours sincerely",
    ]
    active = browser.switch_to.active_element
    assert active.get_attribute("value") == "Dear Mr Gaitskel"  # the least sure line has the focus
    # Line 1: corrected, Enter saves and opens the next line.
    active.send_keys(Keys.END, Keys.BACKSPACE * len("Gaitskel"), "Gaitskell", Keys.ENTER)
    wait.until(lambda d: d.switch_to.active_element.get_attribute("value") == "on Tuesday next")
    # Line 2: typed into, Esc undoes the edit, then F2 accepts it as read.
    browser.switch_to.active_element.send_keys(" oops", Keys.ESCAPE)
    assert browser.switch_to.active_element.get_attribute("value") == "on Tuesday next"
    browser.switch_to.active_element.send_keys(Keys.F2)
    wait.until(lambda d: d.switch_to.active_element.get_attribute("value") == "the meeting is")
    # Up goes back, Down returns; line 3 is corrected too.
    browser.switch_to.active_element.send_keys(Keys.ARROW_UP)
    assert browser.switch_to.active_element.get_attribute("value") == "on Tuesday next"
    browser.switch_to.active_element.send_keys(Keys.ARROW_DOWN)
    browser.switch_to.active_element.send_keys(Keys.END, " held", Keys.ENTER)
    wait.until(lambda d: d.find_element(By.ID, "left").text == "1 line left")
    assert len(browser.find_elements(By.CSS_SELECTOR, ".item.saved")) == 3

    shot = tmp_path / "review.png"
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000
    if os.environ.get("HTR_SCREENSHOT"):  # README's picture: HTR_SCREENSHOT=docs/review.png
        shutil.copyfile(shot, ROOT / os.environ["HTR_SCREENSHOT"])

    # Ana saves the last line meanwhile (a script with her token, from the version the page shows): rita's
    # save of that version is refused, the page says so under the line with Ana's text, and keeps rita's.
    engine = make_engine(f"sqlite:///{tmp_path / 'htr.sqlite'}")
    with session_factory(engine)() as s:
        add_user(s, "ana", "battery staple horse", "reviewer")
        token = add_token(s, "ana", "script")
        s.commit()
    engine.dispose()
    last = browser.find_elements(By.CSS_SELECTOR, ".item")[-1]
    last_id, version = last.get_attribute("data-id"), int(last.get_attribute("data-version"))
    theirs = httpx.put(
        f"{url}/api/lines/{last_id}",
        json={"text": "yours sincerely ,", "version": version},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert theirs.status_code == 200
    field, note = last.find_element(By.CSS_SELECTOR, "input"), last.find_element(By.CSS_SELECTOR, ".note")
    field.click()
    field.send_keys(Keys.END, " Rita", Keys.ENTER)
    wait.until(lambda d: note.is_displayed())
    assert "ana saved this line meanwhile as \u201cyours sincerely ,\u201d" in note.text, note.text
    assert "Your text is still in the box" in note.text and "stale" in last.get_attribute("class")
    assert field.get_attribute("value") == "yours sincerely Rita"
    field.send_keys(Keys.ENTER)  # again, knowingly: saved over Ana's
    wait.until(lambda d: d.find_element(By.ID, "left").text == "0 lines left")
    assert not note.is_displayed()
    steps = httpx.get(f"{url}/api/lines/{last_id}/history", cookies=cookies).json()["history"]
    assert [(h["user"], h["new_text"]) for h in steps] == [("ana", "yours sincerely ,"), ("rita", "yours sincerely Rita")]
    # A save the server refuses is shown plainly, and the typed text stays.
    browser.execute_script("arguments[0].value = arguments[1]", field, "x" * 2001)
    field.send_keys(Keys.ENTER)
    wait.until(lambda d: note.is_displayed())
    assert note.text.startswith("Not saved: a line holds at most 2000 characters.") and "failed" in last.get_attribute("class")
    assert field.get_attribute("value") == "x" * 2001

    # The corrections are what search finds and what the exports say: the search form, sent at
    # its default threshold (the browser checks the number against the field's step first).
    browser.get(f"{url}/search")
    assert browser.find_element(By.NAME, "min_prob").get_attribute("value") == str(DEFAULT_MIN_PROB)
    browser.find_element(By.CSS_SELECTOR, ".search-form [name=q]").send_keys("gaitskell", Keys.ENTER)
    wait.until(ec.url_contains(f"min_prob={DEFAULT_MIN_PROB}"))
    hit = browser.find_element(By.CSS_SELECTOR, ".hits a")
    assert "Dear Mr Gaitskell" in browser.find_element(By.CSS_SELECTOR, ".hit-text").text
    hit.click()
    wait.until(ec.url_contains(f"/documents/{doc_id}"))
    assert "Gaitskell" in browser.find_element(By.CSS_SELECTOR, ".transcript").text
    alto = httpx.get(f"{url}/api/documents/{doc_id}", params={"format": "alto"}, cookies=cookies).text
    assert 'CONTENT="Gaitskell"' in alto and 'CONTENT="held"' in alto and 'Gaitskel"' not in alto
    history = httpx.get(f"{url}/api/lines/{first}/history", cookies=cookies).json()["history"]
    assert [(h["user"], h["action"], h["new_text"]) for h in history] == [("rita", "edit", "Dear Mr Gaitskell")]

    # Logging out ends the session.
    browser.get(f"{url}/")
    browser.find_element(By.CSS_SELECTOR, ".logout button").click()
    wait.until(ec.url_contains("/login"))
    assert httpx.get(f"{url}/api/documents", cookies=cookies).status_code == 401


@pytest.mark.slow
@pytest.mark.services
def test_keyboard_at_the_ends_of_the_queue_and_f2_after_typing(served, browser):
    """Down on the last line and Up on the first throw nothing and keep the focus; F2 on a
    line typed into saves what was typed (an edit), not the reading."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    url, _doc_id = served
    wait = WebDriverWait(browser, 15)
    browser.get(f"{url}/review")  # to the login, and back
    browser.find_element(By.NAME, "name").send_keys("rita")
    browser.find_element(By.NAME, "password").send_keys("correct horse", Keys.ENTER)
    wait.until(ec.url_contains("/review"))
    wait.until(lambda d: d.find_element(By.ID, "left").text == "4 lines left")
    browser.execute_script("window.htrErrors = []; window.addEventListener('error', (e) => window.htrErrors.push(e.message));")
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}

    def focused() -> str:
        return browser.switch_to.active_element.get_attribute("value")

    assert focused() == "Dear Mr Gaitskel"
    browser.switch_to.active_element.send_keys(Keys.ARROW_UP)  # the first line: nowhere to go
    assert focused() == "Dear Mr Gaitskel"
    for _ in range(3):
        browser.switch_to.active_element.send_keys(Keys.ARROW_DOWN)
    assert focused() == "yours sincerely"
    browser.switch_to.active_element.send_keys(Keys.ARROW_DOWN, Keys.ARROW_DOWN)  # the last line
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
    assert focused() == "yours sincerely"
    assert browser.execute_script("return window.htrErrors") == []

    # F2 after typing: the typed text is saved, as an edit.
    last = browser.find_elements(By.CSS_SELECTOR, ".item")[-1]
    browser.switch_to.active_element.send_keys(Keys.END, " truly", Keys.F2)
    wait.until(lambda d: "saved" in last.get_attribute("class"))
    history = httpx.get(f"{url}/api/lines/{last.get_attribute('data-id')}/history", cookies=cookies).json()["history"]
    assert [(h["action"], h["new_text"]) for h in history] == [("edit", "yours sincerely truly")]
    # F2 on an untouched line accepts it as read.
    first = browser.find_elements(By.CSS_SELECTOR, ".item")[0]
    first.find_element(By.CSS_SELECTOR, "input").click()
    browser.switch_to.active_element.send_keys(Keys.F2)
    wait.until(lambda d: "saved" in first.get_attribute("class"))
    history = httpx.get(f"{url}/api/lines/{first.get_attribute('data-id')}/history", cookies=cookies).json()["history"]
    assert [(h["action"], h["new_text"]) for h in history] == [("accept", "Dear Mr Gaitskel")]
    assert browser.execute_script("return window.htrErrors") == []
