"""Helpers of the browser tests: waiting on the page, reading the journal table."""

from __future__ import annotations


def wait(driver, condition, timeout=5.0):
    """``condition(driver)`` once it is truthy, polled every 20 ms (an element the page
    re-rendered between finding and reading it is polled again, not a failure)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.02,
                         ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def row(driver, tenant, seq):
    """The journal table's row of exchange ``seq`` of ``tenant``, or False."""
    found = driver.find_elements(
        "css selector", f'#journal tr[data-tenant="{tenant}"][data-seq="{seq}"]')
    return found[0] if found else False


def row_text(driver, tenant, seq):
    """The row's text and class, read at once (the table is redrawn as exchanges arrive)."""
    return driver.execute_script(
        "const r = document.querySelector(`#journal tr[data-tenant='${arguments[0]}']"
        "[data-seq='${arguments[1]}']`); return r && [r.innerText, r.className];",
        tenant, seq) or False


def click(driver, tenant, seq, inside=""):
    """Click the row of exchange ``seq`` of ``tenant`` (or the element ``inside`` selects in
    it) once it is there, in one script: the table is redrawn as exchanges arrive, so an
    element found first could be gone by the time it is clicked."""
    return wait(driver, lambda d: d.execute_script(
        "const r = document.querySelector(`#journal tr[data-tenant='${arguments[0]}']"
        "[data-seq='${arguments[1]}']`); const t = r && (arguments[2] ? "
        "r.querySelector(arguments[2]) : r); if (t) t.click(); return !!t;",
        tenant, seq, inside))
