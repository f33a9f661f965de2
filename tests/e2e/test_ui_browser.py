"""The web UI in a real browser: Debian's Chromium, headless, driven by Selenium through Debian's
chromedriver (no browser download). One ``runwire serve`` and one browser for the module.

Without ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (``apt-get install chromium
chromium-driver``) the tests skip, saying so; under ``CI=true`` they fail instead.
``RUNWIRE_SCREENSHOTS=1`` also writes the README's screenshots to ``docs/img/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runwire_server.testing import running_server, service_unavailable
from tests.helpers import (
    KEY,
    ROOT,
    api,
    create_workflow,
    hello_data,
    make_key,
    output_workflow,
    sleep_data,
    wait_for_run,
    with_plugin,
)

CHROMIUM = os.environ.get("RUNWIRE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("RUNWIRE_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
SHOTS = ROOT / "docs" / "img"
WAIT_S = 20


def _missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            return f"{path} is missing: apt-get install chromium chromium-driver"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (make install)"
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    reason = _missing()
    if reason is not None:
        service_unavailable(f"browser tests need Chromium: {reason}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,800",
    ):
        options.add_argument(arg)
    # Chromium leaves its singleton socket's directory in TMPDIR: the test's own, not /tmp
    env = {**os.environ, "TMPDIR": str(tmp_path_factory.mktemp("chromium-tmp"))}
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER, env=env), options=options)
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, sleep_plugin_path: str) -> Iterator[dict[str, Any]]:
    if _missing() is not None:
        service_unavailable(f"browser tests need Chromium: {_missing()}")
    data_dir = tmp_path_factory.mktemp("ui-browser")
    keys = {1: make_key(data_dir, 1), 2: make_key(data_dir, 2)}
    env = with_plugin({"RUNWIRE_API_KEYS": KEY}, sleep_plugin_path)
    with running_server(env=env, data_dir=data_dir) as server, api(server.url) as admin:
        slow = sleep_data(2.0)
        slow["nodes"][0]["data"]["input_fields"] = [
            {"id": "name", "title": "Name", "input_requirements": True}
        ]
        ids = {
            "greeter": create_workflow(admin, hello_data(), project=1, title="Greeter"),
            "slow": create_workflow(admin, slow, project=1, title="Slow greeting"),
            "broken": create_workflow(admin, output_workflow("{{ 1/0 }}"), project=1, title="Broken"),
            "sleeper": create_workflow(admin, sleep_data(60.0), project=1, title="Long sleep"),
            "secret": create_workflow(admin, hello_data(), project=2, title="Project two secret"),
        }
        reply = admin.post(f"/api/v1/workflows/{ids['secret']}/run/", json={"name": "Eve", "age": 40}).json()
        # a finished run of project 1, so that each test finds one whatever ran before it (the
        # tests are spread over processes, each with its own server)
        greeted = admin.post(
            f"/api/v1/workflows/{ids['greeter']}/run/", json={"name": "Ada", "age": 36}
        ).json()
        wait_for_run(admin, greeted["data"]["id"])
        yield {"url": server.url, "keys": keys, "ids": ids, "secret_run": reply["data"]["id"]}


def shot(driver: Any, name: str) -> None:
    """Save a README screenshot when RUNWIRE_SCREENSHOTS=1."""
    if os.environ.get("RUNWIRE_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"ui-{name}.png"
        driver.save_screenshot(str(path))
        assert path.stat().st_size < 150_000, f"{path} is {path.stat().st_size} bytes"


def wait_for_text(driver: Any, text: str, css: str = "main") -> None:
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        WebDriverException,
    )
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def shows_text(d: Any) -> bool:
        try:
            return text in d.find_element(By.CSS_SELECTOR, css).text
        except (NoSuchElementException, StaleElementReferenceException):
            return False
        except WebDriverException as error:
            # a navigation between the find and the read: Chromium names the node gone
            if "does not belong to the document" in str(error.msg):
                return False
            raise

    # pages change under the look (a sign-in redirect; the run page reloads when its run ends)
    WebDriverWait(driver, WAIT_S).until(shows_text)


def sign_in(driver: Any, site: dict[str, Any], project: int = 1) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(site["url"] + "/")
    assert "Sign in" in driver.find_element(By.TAG_NAME, "h1").text
    driver.find_element(By.ID, "credential").send_keys(site["keys"][project])
    driver.find_element(By.CSS_SELECTOR, "form[action='/ui/sign-in'] button").click()
    wait_for_text(driver, "Workflows", "h1")


def test_sign_in_shows_the_projects_workflows_at_desktop_and_phone_width(
    browser: Any, site: dict[str, Any]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    sign_in(browser, site)
    main = browser.find_element(By.TAG_NAME, "main").text
    assert "Greeter" in main and "Slow greeting" in main and "Project two secret" not in main
    shot(browser, "workflows")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)  # the first stop is the skip link
    assert browser.switch_to.active_element.text == "Skip to content"
    browser.set_window_size(390, 844)
    try:
        overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the list is {overflow}px wider than a phone"
    finally:
        browser.set_window_size(1280, 800)


def test_run_from_the_form_and_watch_it_go_from_queued_to_succeeded(
    browser: Any, site: dict[str, Any]
) -> None:
    from selenium.webdriver.common.by import By

    sign_in(browser, site)
    browser.get(f"{site['url']}/ui/workflows/{site['ids']['greeter']}")
    labels = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "svg .edge-label")]
    assert sorted(labels) == ["false", "true"]
    shot(browser, "workflow")
    browser.get(f"{site['url']}/ui/workflows/{site['ids']['slow']}")
    browser.find_element(By.NAME, "input.name").send_keys("Ada")
    browser.find_element(By.CSS_SELECTOR, "form[action$='/run'] button").click()
    wait_for_text(browser, "Status:", "#run-status")
    browser.execute_script("window.runwireMarker = 'same page'")  # a reload would drop it
    first = browser.find_element(By.ID, "run-state").text
    assert any(word in first for word in ("queued", "running")), first
    assert browser.find_element(By.ID, "cancel-form")
    wait_for_text(browser, "succeeded", "#run-state")
    assert browser.execute_script("return window.runwireMarker") == "same page"  # updated live
    wait_for_text(browser, "took", "#run-live")  # node timings arrived with the events
    nodes = browser.find_elements(By.CSS_SELECTOR, "svg .node.state-succeeded")
    assert len(nodes) == 3 and not browser.find_elements(By.ID, "cancel-form")
    assert "Node " in browser.find_element(By.ID, "announce").get_attribute("textContent")
    shot(browser, "run")


def test_the_cancel_button_stops_a_sleeping_run_and_the_page_tells_it(
    browser: Any, site: dict[str, Any]
) -> None:
    from selenium.webdriver.common.by import By

    sign_in(browser, site)
    browser.get(f"{site['url']}/ui/workflows/{site['ids']['sleeper']}")
    browser.find_element(By.CSS_SELECTOR, "form[action$='/run'] button").click()
    wait_for_text(browser, "running", "#run-live")
    button = browser.find_element(By.CSS_SELECTOR, "#cancel-form button")
    assert button.get_attribute("aria-label").startswith("Cancel run")
    button.click()
    wait_for_text(browser, "Cancelled", ".notice")
    wait_for_text(browser, "cancelled", "#run-state")
    wait_for_text(browser, "Cancelled by", "#run-live")
    assert not browser.find_elements(By.ID, "cancel-form")


def test_a_failed_nodes_error_is_shown(browser: Any, site: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    sign_in(browser, site)
    browser.get(f"{site['url']}/ui/workflows/{site['ids']['broken']}")
    browser.find_element(By.CSS_SELECTOR, "form[action$='/run'] button").click()
    wait_for_text(browser, "failed", "#run-state")
    wait_for_text(browser, "ZeroDivisionError")
    assert browser.find_elements(By.CSS_SELECTOR, "svg .node.state-failed")


def test_the_runs_list_filters_by_status_at_desktop_and_phone_width(
    browser: Any, site: dict[str, Any]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    sign_in(browser, site)
    browser.find_element(By.LINK_TEXT, "Runs").click()
    wait_for_text(browser, "Runs", "h1")
    assert browser.find_elements(By.CSS_SELECTOR, "table.runs-list tbody tr")
    shot(browser, "runs")
    Select(browser.find_element(By.ID, "filter-status")).select_by_visible_text("succeeded")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    wait_for_text(browser, "newest first", "caption")
    assert "status=succeed" in browser.current_url
    states = [
        td.text for td in browser.find_elements(By.CSS_SELECTOR, "table.runs-list tbody td:nth-child(2)")
    ]
    assert states and all("succeeded" in s for s in states), states
    browser.set_window_size(390, 844)
    try:
        for path in (
            "/ui/runs",
            browser.find_element(By.CSS_SELECTOR, "table.runs-list tbody a").get_attribute("href"),
        ):
            browser.get(path if path.startswith("http") else site["url"] + path)
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"{path} is {overflow}px wider than a phone"
    finally:
        browser.set_window_size(1280, 800)


def test_a_project_1_key_cannot_see_project_2_pages(browser: Any, site: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    sign_in(browser, site)
    secret_run = site["secret_run"]
    for path in (
        f"/ui/workflows/{site['ids']['secret']}",
        f"/ui/runs/{secret_run}",
        f"/ui/runs/{secret_run}/events",
    ):
        browser.get(site["url"] + path)
        assert "404" in browser.find_element(By.TAG_NAME, "h1").text
        assert "secret" not in browser.page_source.lower()


def test_sign_out_ends_the_session(browser: Any, site: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    sign_in(browser, site)
    browser.find_element(By.CSS_SELECTOR, "form[action='/ui/sign-out'] button").click()
    wait_for_text(browser, "Sign in", "h1")
    browser.get(f"{site['url']}/ui/workflows/{site['ids']['greeter']}")
    assert "Sign in" in browser.find_element(By.TAG_NAME, "h1").text
