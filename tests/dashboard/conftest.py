"""A headless Chromium driven by Selenium, for the dashboard's and the HTML report's tests.

Debian's ``chromium`` and ``chromium-driver`` packages provide it (``.ci/run`` installs them).
Where they are absent the browser tests skip, saying how to install them; with
``LLMFAKE_REQUIRE_SERVICES=1`` (set by CI) they fail instead, so a CI image without the browser
cannot pass silently.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_pages import wait

from llmfake._plugin._watch import ATTACHMENT

CHROMIUM = os.environ.get("LLMFAKE_CHROMIUM", "/usr/bin/chromium")
DRIVER = os.environ.get("LLMFAKE_CHROMEDRIVER", "/usr/bin/chromedriver")
DOCS_IMAGES = Path(__file__).parents[2] / "docs" / "images"
INSTALL = ("the browser tests need Chromium and its driver: `apt-get install chromium "
           "chromium-driver` (Debian/Ubuntu), or point LLMFAKE_CHROMIUM and "
           "LLMFAKE_CHROMEDRIVER at them")


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the browser tests need selenium: pip install -e '.[test]'"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)) or not Path(DRIVER).exists():
        return INSTALL
    return None


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """A headless Chromium session (skipped, or failed under LLMFAKE_REQUIRE_SERVICES=1,
    where it is not installed)."""
    missing = _missing()
    if missing:
        if os.environ.get("LLMFAKE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"LLMFAKE_REQUIRE_SERVICES=1 but {missing}")
        pytest.skip(missing)
    import tempfile

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="llmfake-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1400,1000",
                f"--user-data-dir={profile}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def screenshot(chromium, tmp_path, request):
    """``screenshot(name)`` saves the page under the test's tmp path, attached to the test's
    entry in ``--llmfake-report=html:PATH`` should it fail, and, with
    ``LLMFAKE_DOCS_SCREENSHOTS=1``, as ``docs/images/<name>.png`` for the docs."""

    def take(name: str) -> Path:
        path = tmp_path / f"{name}.png"
        chromium.save_screenshot(str(path))
        request.node.user_properties.append((ATTACHMENT, str(path)))
        if os.environ.get("LLMFAKE_DOCS_SCREENSHOTS") == "1":
            DOCS_IMAGES.mkdir(exist_ok=True)
            shutil.copyfile(path, DOCS_IMAGES / f"{name}.png")
        return path

    return take


@pytest.fixture
def page(chromium, server):
    """The dashboard of the module's ``server`` open and subscribed to the live journal."""
    chromium.get(server.url + "/_llmfake/ui")
    wait(chromium, lambda d: d.find_element("id", "status").text == "live", timeout=10)
    return chromium



@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A browser test that fails saves the page as it was then (``failed.png`` under its tmp
    path) and attaches it to its HTML report entry, beside the screenshots it took."""
    if call.when == "call" and call.excinfo is not None and "chromium" in item.funcargs:
        folder = item.funcargs.get("tmp_path") or item.config._tmp_path_factory.mktemp("failed")
        path = folder / "failed.png"
        try:
            item.funcargs["chromium"].save_screenshot(str(path))
            item.user_properties.append((ATTACHMENT, str(path)))
        except Exception as exc:  # a browser gone too: the failure says more than we could
            item.user_properties.append(("llmfake_attachment_error", repr(exc)))
    return (yield)
