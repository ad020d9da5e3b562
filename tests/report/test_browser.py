"""The report in a real browser: headless Chromium driven by Selenium.

It asserts that the page renders offline as written: no console error (a
blocked external fetch is one, since the page forbids them by its
Content-Security-Policy), every figure decoded, the key numbers in the visible
text, nothing wider than the window. It saves a full-page screenshot of each
report for a person to look at:

    tests/artifacts/report.png      cardio: 21 features, K given
    tests/artifacts/report-2d.png   two features: density contours, K chosen

``tests/artifacts/`` is git-ignored; set ``ANOMALYKIT_TEST_ARTIFACTS`` to
write them elsewhere (a CI job uploads that folder).

Needs ``chromium`` and ``chromedriver`` on PATH (Debian: ``apt-get install
chromium chromium-driver``; ``.ci/run`` installs them when it can) and
``selenium`` (the ``dev`` extra). Without them the test skips, saying what is
missing, except when the environment variable ``CI`` is set (to anything but
``""``, ``0``, ``false`` or ``no``): CI must run it, so there it fails.
"""

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from anomalykit.report import write_report

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("ANOMALYKIT_TEST_ARTIFACTS") or REPO / "tests" / "artifacts")
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)
#: Tallest full-page screenshot (pixels).
MAX_HEIGHT = 16000


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str):
    if in_ci():
        pytest.fail(f"{reason}. CI must run the browser test: install it (see .ci/run).")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("selenium is not installed (pip install -e '.[dev]')")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        missing = " and ".join(
            name for name, path in (("chromium", chromium), ("chromedriver", driver_path))
            if path is None
        )  # fmt: skip
        unavailable(
            f"{missing} not found on PATH (Debian: apt-get install chromium chromium-driver)"
        )
    options = Options()
    options.binary_location = chromium
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver: Selenium Manager never looks for one online.
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def open_report(browser, files):
    browser.get_log("browser")  # drop what an earlier page logged
    browser.set_window_size(1280, 900)
    browser.get(files.html.resolve().as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    return browser.find_element("tag name", "body").text


def assert_renders(browser, files):
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])"
    )
    assert len(images) == len(files.figures)
    assert all(complete and width > 0 for complete, width, _ in images), images
    # readable at 1280 px: nothing forces a horizontal scroll bar
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"
    )


def screenshot(browser, name):
    """The whole page: the window grown to the page's height (its frame included)."""
    for _ in range(3):  # resizing can reflow the page: measure again
        height, chrome, inner = browser.execute_script(
            "return [document.documentElement.scrollHeight,"
            " window.outerHeight - window.innerHeight, window.innerHeight]"
        )
        if inner >= min(height, MAX_HEIGHT):
            break
        browser.set_window_size(1280, min(height + chrome, MAX_HEIGHT))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    assert browser.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    return path


def test_cardio_report_renders_in_chromium(browser, tmp_path, cardio_detection, cardio_clustering):
    files = write_report(
        tmp_path / "report",
        detection=cardio_detection,
        clustering=cardio_clustering,
        title="Cardiotocography exams",
    )
    text = open_report(browser, files)
    assert_renders(browser, files)
    ev = cardio_detection.evaluation
    assert f"{ev.f1:.3f}\ntest F1" in text  # the tile: value, then its label
    for value in (ev.precision, ev.recall, ev.roc_auc, ev.average_precision):
        assert f"{value:.3f}" in text
    assert f"log ε = {cardio_detection.detector.offset_:.6g}" in text
    assert f"{cardio_clustering.metrics['silhouette']:.3f}\nsilhouette" in text
    assert f"{cardio_clustering.n_outliers} of {len(cardio_clustering.labels)} rows" in text
    screenshot(browser, "report.png")


def test_two_feature_report_renders_in_chromium(browser, tmp_path, detection_2d, clustering_2d):
    files = write_report(tmp_path / "report", detection=detection_2d, clustering=clustering_2d)
    text = open_report(browser, files)
    assert_renders(browser, files)
    assert "density_contours" in files.figures and "k_selection" in files.figures
    assert f"{detection_2d.evaluation.f1:.3f}\ntest F1" in text
    assert "K=3: elbow and silhouette and gap agree." in text
    screenshot(browser, "report-2d.png")
