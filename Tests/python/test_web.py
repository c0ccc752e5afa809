"""The web page at `/`, driven in a real headless Chromium (Debian's `chromium` and
`chromium-driver`) against the five-node demo region of `conftest.region`.

Each view loads with the role that may see it, tables and charts render the API's
data, the language switch relabels everything, a record is created through the
office form after the server's validation problem is shown next to its field, and
a conflict resolved in the page disappears at a second node. Screenshots of each
view go to `KOTOSYNC_SCREENSHOTS` (deploy/screenshots.sh sets docs/screenshots)
or .build/screenshots.

Personal data never reaches the test output: assertions compare values and say
which field differed, never what it held.
"""
import os
import re
import threading
import time
import uuid

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = os.environ.get("KOTOSYNC_SCREENSHOTS") or os.path.join(ROOT, ".build", "screenshots")
WIDTH, HEIGHT = 1280, 800


# MARK: Browser

def start_chromium(accept_languages="en-GB,en", downloads=None):
    """A headless Chromium through chromedriver; fails the test (never skips) when it cannot start."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is missing: install Debian's chromium and chromium-driver (deploy/test.sh does)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={WIDTH},{HEIGHT}", "--disable-extensions", "--no-first-run"):
        options.add_argument(argument)
    prefs = {"intl.accept_languages": accept_languages}
    if downloads:
        prefs.update({"download.default_directory": downloads, "download.prompt_for_download": False})
    options.add_experimental_option("prefs", prefs)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    except WebDriverException as error:
        pytest.fail(f"headless Chromium did not start: {error.msg}")
    # The viewport itself, not the window, is 1280×800 (screenshots are of the viewport).
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
    if downloads:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
    return driver


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return str(tmp_path_factory.mktemp("downloads"))


@pytest.fixture(scope="module")
def browser(downloads):
    driver = start_chromium(downloads=downloads)
    yield driver
    driver.quit()


def wait(driver, condition, timeout=20, what="the page"):
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: condition(d))
    except TimeoutException:
        errors = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#main .message.error")]
        raise AssertionError(f"timed out waiting for {what}" + (f"; the page shows: {errors}" if errors else "")) from None


def css(driver, selector):
    return driver.find_elements(By.CSS_SELECTOR, selector)


def open_page(driver, region, node="jakobstad", language="en", path="/"):
    """Loads the page afresh: no session, the given language."""
    driver.get(region.url(node) + "/")
    driver.execute_script("sessionStorage.clear(); localStorage.clear();"
                          "if (arguments[0]) localStorage.setItem('kotosync.language', arguments[0]);", language)
    driver.get(region.url(node) + path)
    wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true", what="the page to start")


def sign_in(driver, region, role, node="jakobstad", language="en"):
    open_page(driver, region, node, language)
    field = wait(driver, lambda d: d.find_element(By.ID, "token"), what="the token field")
    field.send_keys(region.token(role, node))
    driver.find_element(By.ID, "login-submit").click()
    wait(driver, lambda d: d.find_element(By.ID, "nav").is_displayed(), what=f"the {role} views after signing in")


def go(driver, view):
    driver.find_element(By.ID, f"nav-{view}").click()
    wait(driver, lambda d: d.find_element(By.ID, f"nav-{view}").get_attribute("aria-current") == "page", what=f"the {view} view")


# Text whose contrast with its background is under WCAG AA's 4.5:1 (SVG charts aside:
# their marks and labels sit on white and use the page's checked colours).
LOW_CONTRAST = """
const parse = (text) => { const m = /rgba?\\(([^)]+)\\)/.exec(text); if (!m) return null;
  const p = m[1].split(',').map(Number); return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 }; };
const luminance = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
const background = (node) => { for (let e = node; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor);
  if (c && c.a > 0.5) return c; } return { r: 255, g: 255, b: 255, a: 1 }; };
const low = [];
for (const node of document.querySelectorAll('body *')) {
  if (node.closest('svg')) continue;
  if (!Array.from(node.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
  const box = node.getBoundingClientRect();
  if (box.width <= 1 || box.height <= 1 || getComputedStyle(node).visibility === 'hidden') continue;
  const a = luminance(parse(getComputedStyle(node).color)), b = luminance(background(node));
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < 4.5) low.push(`${node.tagName.toLowerCase()}#${node.id}.${node.className} ${ratio.toFixed(2)}`);
}
return low;
"""


def screenshot(driver, name):
    """Checks the view's text contrast, then saves its picture."""
    assert driver.execute_script(LOW_CONTRAST) == [], f"text under 4.5:1 contrast in {name}"
    os.makedirs(SCREENSHOTS, exist_ok=True)
    driver.execute_script("window.scrollTo(0, 0); document.activeElement && document.activeElement.blur();")
    # The pointer off the navigation, so no link shows its hover underline.
    ActionChains(driver).move_to_element(driver.find_element(By.CSS_SELECTOR, "h1")).perform()
    time.sleep(0.3)
    driver.save_screenshot(os.path.join(SCREENSHOTS, f"{name}.png"))


def row_ids(driver, table_id):
    return [row.get_attribute("data-id") for row in css(driver, f"#{table_id} tbody tr")]


def missing_strings(driver):
    return driver.execute_script("return window.kotosync.missingStrings()")


def csp_violations(driver):
    return [entry["message"] for entry in driver.get_log("browser")
            if "Content Security Policy" in entry["message"] or "Refused to" in entry["message"]]


# MARK: Without a browser: what the page is made of

def test_page_and_assets_are_served_with_a_strict_policy(region):
    page = region.request("GET", "/", role=None, headers={"Accept-Language": "sv-FI,sv;q=0.9,en;q=0.5"})
    assert page.status == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    html = page.body.decode()
    assert '<html lang="sv">' in html, "Accept-Language sv must make the page Swedish"
    # Nothing inline that the policy would block: scripts by src only, no style or event attributes.
    assert all('src="/assets/' in tag for tag in re.findall(r"<script[^>]*>", html))
    assert not re.search(r"<style|\sstyle=|\son[a-z]+=", html)
    for path, kind in (("/assets/app.js", "text/javascript"), ("/assets/app.css", "text/css")):
        answer = region.request("GET", path, role=None)
        assert answer.status == 200, path
        assert answer.headers["Content-Type"].startswith(kind), path
        assert answer.headers["Cache-Control"] == "no-cache"
        again = region.request("GET", path, role=None, headers={"If-None-Match": answer.headers["ETag"]})
        assert again.status == 304 and again.body == b"", f"{path} with its ETag must answer 304"
    script = region.request("GET", "/assets/app.js", role=None).body.decode()
    assert "eval(" not in script and "innerHTML" not in script, "the script builds DOM nodes, never markup strings"


# MARK: Sign-in and language

def test_default_language_follows_accept_language(region):
    driver = start_chromium(accept_languages="sv-FI,sv")
    try:
        open_page(driver, region, language=None)
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "sv"
        assert driver.find_element(By.TAG_NAME, "h1").text == "Logga in"
        assert driver.find_element(By.CSS_SELECTOR, "label[for=token]").text == "Åtkomsttoken"
        # Municipalities from /v1/region in Swedish.
        assert [li.text for li in css(driver, "#region-list li")] == ["Jakobstad", "Nykarleby", "Kronoby", "Pedersöre", "Larsmo"]
    finally:
        driver.quit()


def test_sign_in_refuses_a_wrong_token_and_sign_out_forgets_the_token(browser, region):
    open_page(browser, region)
    screenshot(browser, "sign-in")
    browser.find_element(By.ID, "token").send_keys("ks_not-a-real-token")
    browser.find_element(By.ID, "login-submit").click()
    alert = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".login .message.error"), what="the refusal")
    assert alert.text == "The token was not accepted."
    assert browser.execute_script("return sessionStorage.getItem('kotosync.token')") is None

    sign_in(browser, region, "coordinator")
    assert browser.execute_script("return sessionStorage.getItem('kotosync.token')") == region.token("coordinator")
    assert [a.text for a in css(browser, "#nav a")] == ["Tables", "Reports", "Conflicts", "Sync"]
    assert browser.find_element(By.ID, "who").text.startswith("Coordinator")
    # A reload keeps the session (the token is in session storage).
    browser.refresh()
    wait(browser, lambda d: d.find_element(By.ID, "nav").is_displayed(), what="the resumed session")
    browser.find_element(By.ID, "logout").click()
    wait(browser, lambda d: d.find_element(By.ID, "token"), what="the sign-in form")
    assert browser.execute_script("return sessionStorage.getItem('kotosync.token')") is None
    assert not browser.find_element(By.ID, "nav").is_displayed()


def test_each_role_sees_its_own_views(browser, region):
    expected = {"office": ["Records", "Reports", "Conflicts"], "admin": ["Sync"], "coordinator": ["Tables", "Reports", "Conflicts", "Sync"]}
    for role, views in expected.items():
        sign_in(browser, region, role)
        assert [a.text for a in css(browser, "#nav a")] == views, role
    # A node's or the metrics scraper's credential opens no page.
    for token in (region.token("peer", "kronoby"), region.token("scrape")):
        open_page(browser, region)
        browser.find_element(By.ID, "token").send_keys(token)
        browser.find_element(By.ID, "login-submit").click()
        alert = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".login .message.error"), what="the refusal")
        assert "not a person" in alert.text
        assert browser.execute_script("return sessionStorage.getItem('kotosync.token')") is None


def test_language_switch_relabels_the_page_and_names_municipalities(browser, region):
    sign_in(browser, region, "coordinator", language="fi")
    expectations = {
        "fi": {"nav": ["Taulukot", "Raportit", "Ristiriidat", "Synkronointi"], "heading": "Yhdistetyt taulukot",
               "column": "Asiakasnumero", "municipality": "Pietarsaari", "logout": "Kirjaudu ulos"},
        "sv": {"nav": ["Tabeller", "Rapporter", "Konflikter", "Synkronisering"], "heading": "Sammanslagna tabeller",
               "column": "Klientnummer", "municipality": "Jakobstad", "logout": "Logga ut"},
        "en": {"nav": ["Tables", "Reports", "Conflicts", "Sync"], "heading": "Merged tables",
               "column": "Client number", "municipality": "Jakobstad", "logout": "Sign out"},
    }
    add_filter(browser, "tables", "ownerMunicipality", "598")
    for language in ("fi", "sv", "en"):
        Select(browser.find_element(By.ID, "language")).select_by_value(language)
        want = expectations[language]
        wait(browser, lambda d: [a.text for a in css(d, "#nav a")] == want["nav"], what=f"the {language} labels")
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
        assert browser.find_element(By.CSS_SELECTOR, "#main h1").text == want["heading"]
        assert browser.find_element(By.ID, "logout").text == want["logout"]
        headers = [th.text for th in css(browser, "#tables-records thead th")]
        assert headers[0] == want["column"]
        wait(browser, lambda d: len(css(d, "#tables-records tbody tr")) > 0, what="the filtered rows")
        municipality_column = headers.index({"fi": "Vastuukunta", "sv": "Ansvarig kommun", "en": "Responsible municipality"}[language])
        cells = {row.find_elements(By.TAG_NAME, "td")[municipality_column].text for row in css(browser, "#tables-records tbody tr")}
        assert cells == {want["municipality"]}
        # Every view in every language has every label.
        for view in ("reports", "conflicts", "sync", "tables"):
            go(browser, view)
            time.sleep(0.5)
        assert missing_strings(browser) == [], f"labels without a {language} translation"
    keys = browser.execute_script("return ['fi', 'sv', 'en'].map((l) => Object.keys(STRINGS[l]).sort().join(','))")
    assert keys[0] == keys[1] == keys[2], "fi, sv and en must have the same label keys"


# MARK: Coordinator

def add_filter(driver, key, field, value):
    Select(driver.find_element(By.ID, f"{key}-filter-field")).select_by_value(field)
    control = driver.find_element(By.ID, f"{key}-filter-value")
    if control.tag_name == "select":
        Select(control).select_by_value(value)
    else:
        control.clear()
        control.send_keys(value)
    driver.find_element(By.ID, f"{key}-filter-add").click()
    wait(driver, lambda d: len(css(d, f"#{key}-filters li")) > 0 and len(css(d, f"#{key}-records tbody tr")) > 0, what="the filtered table")


def test_coordinator_tables_filter_search_and_page(browser, region):
    sign_in(browser, region, "coordinator")
    first = region.request("GET", "/v1/clients?limit=25").json()
    wait(browser, lambda d: row_ids(d, "tables-records") == [item["id"] for item in first["items"]], what="the first page of clients")
    # Personal data is not shown until asked for.
    headers = [th.text for th in css(browser, "#tables-records thead th")]
    assert "Given name" not in headers and "Date of birth" not in headers and "Client number" in headers
    screenshot(browser, "coordinator-tables")

    browser.find_element(By.ID, "tables-next").click()
    second = region.request("GET", f"/v1/clients?limit=25&after={first['next']}").json()
    wait(browser, lambda d: row_ids(d, "tables-records") == [item["id"] for item in second["items"]], what="the second page")
    browser.find_element(By.ID, "tables-previous").click()
    wait(browser, lambda d: row_ids(d, "tables-records") == [item["id"] for item in first["items"]], what="the first page again")

    add_filter(browser, "tables", "ownerMunicipality", "288")
    add_filter(browser, "tables", "status", "plan_active")
    filtered = region.request("GET", "/v1/clients?limit=25&ownerMunicipality=288&status=plan_active").json()
    assert filtered["items"], "the demo data has active plans in Kronoby"
    wait(browser, lambda d: row_ids(d, "tables-records") == [item["id"] for item in filtered["items"]], what="the filtered rows")

    # The search box narrows the rows of the page shown.
    number = filtered["items"][0]["fields"]["clientNumber"]
    search = browser.find_element(By.ID, "tables-search")
    search.send_keys(number)
    visible = [row for row in css(browser, "#tables-records tbody tr") if row.is_displayed()]
    assert [row.get_attribute("data-id") for row in visible] == [filtered["items"][0]["id"]]
    assert browser.find_element(By.ID, "tables-status").text.startswith("Page 1: 1 of")

    # Services: another table, its own columns.
    Select(browser.find_element(By.ID, "tables-table")).select_by_value("services")
    services = region.request("GET", "/v1/services?limit=25").json()
    wait(browser, lambda d: row_ids(d, "tables-records") == [item["id"] for item in services["items"]], what="the services")
    assert csp_violations(browser) == []


def test_csv_download_carries_the_token(browser, region, downloads):
    sign_in(browser, region, "coordinator")
    wait(browser, lambda d: len(css(d, "#tables-records tbody tr")) > 0, what="the clients")
    expected = region.request("GET", "/v1/clients?format=csv&lang=en")
    assert expected.status == 200, f"GET /v1/clients?format=csv answered {expected.status}: CSV for lists is not on this build"
    before = set(os.listdir(downloads))
    browser.find_element(By.ID, "tables-csv").click()
    # An export is recorded in the access log: the page asks for its purpose first.
    purpose = wait(browser, lambda d: d.find_element(By.ID, "tables-csv-purpose"), what="the purpose prompt")
    assert purpose.is_displayed() and browser.switch_to.active_element == purpose, "the purpose field shows, focused"
    label = browser.find_element(By.CSS_SELECTOR, "label[for='tables-csv-purpose']")
    assert label.text == "Purpose of this export"
    assert purpose.get_attribute("required") is not None, "a purpose is required"
    browser.find_element(By.ID, "tables-csv-confirm").click()
    time.sleep(1)
    assert set(os.listdir(downloads)) == before, "nothing is downloaded without a purpose"
    assert css(browser, "#tables-csv-purpose"), "the prompt stays until a purpose is given"
    purpose.send_keys("browser test export")
    browser.find_element(By.ID, "tables-csv-confirm").click()
    wait(browser, lambda d: not css(d, "#tables-csv-purpose"), what="the prompt to close")
    deadline = time.time() + 20
    added = []
    while time.time() < deadline:
        added = [name for name in set(os.listdir(downloads)) - before if not name.endswith(".crdownload")]
        if added:
            break
        time.sleep(0.2)
    assert added, "no CSV file was downloaded"
    with open(os.path.join(downloads, added[0]), "rb") as f:
        data = f.read()
    assert data.startswith(b"\xef\xbb\xbf"), "the CSV starts with a UTF-8 BOM"
    assert data == expected.body, "the page saved exactly what the API answers with the token"
    # The stated purpose went with the request, into this node's access log.
    today = time.strftime("%Y-%m-%d", time.gmtime())
    audit = region.request("GET", f"/v1/audit?from={today}&to={today}")
    assert audit.status == 200, f"GET /v1/audit answered {audit.status}"
    exports = [entry for entry in audit.json()["items"]
               if entry["action"] == "export" and entry["kind"] == "clients" and entry["purpose"] == "browser test export"]
    assert exports, "no access-log entry of the clients CSV export with the purpose the page asked for"


REPORTS = ["overview", "deadlines", "placements", "services", "integrity"]


def test_coordinator_reports_render_tables_and_charts(browser, region):
    sign_in(browser, region, "coordinator")
    go(browser, "reports")
    for name in REPORTS:
        answer = region.request("GET", f"/v1/reports/{name}?lang=en")
        assert answer.status == 200, f"GET /v1/reports/{name} answered {answer.status}: the report is not on this build"
        report = answer.json()
        browser.find_element(By.ID, f"report-{name}").click()
        wait(browser, lambda d: d.find_element(By.ID, f"report-{name}").get_attribute("aria-pressed") == "true"
             and len(css(d, "#report-body .report-table")) == len(report["tables"]), what=f"the {name} report")
        for key, table in report["tables"].items():
            shown = css(browser, f"#report-table-{key} tbody tr")
            assert len(shown) == min(len(table["rows"]), 100), f"{name}.{key} rows"
            labels = [th.text for th in css(browser, f"#report-table-{key} thead th")]
            assert labels == [column["label"] for column in table["columns"]], f"{name}.{key} column labels"
            assert browser.find_element(By.ID, f"report-table-{key}-title").text == table["title"]
        if name == "placements":
            rows = report["tables"]["municipalities"]["rows"]
            bars = css(browser, "#chart-placements rect.bar")
            assert len(bars) == len(rows) == 5
            heights = [float(bar.get_attribute("height")) for bar in bars]
            totals = [row["total"] for row in rows]
            # Each bar's height follows its municipality's total.
            for i in range(5):
                for j in range(5):
                    if totals[i] > totals[j]:
                        assert heights[i] > heights[j], "bar heights follow the totals"
            assert any(height > 0 for height in heights) == any(totals)
            assert len(css(browser, "#chart-placements line.target")) == sum(1 for row in rows if row["target"] is not None)
            assert len(css(browser, "#chart-region-target line.target-line")) == 1, "the region's annual target line"
            screenshot(browser, "coordinator-report-placements")
        if name == "services":
            rows = [row for row in report["tables"]["services"]["rows"] if row["utilisation"] is not None]
            assert len(css(browser, "#chart-utilisation rect.bar")) == min(15, len(rows))
            assert css(browser, "#coverage-table tbody tr"), "the coverage matrix"
            screenshot(browser, "coordinator-report-services")
        if name == "deadlines":
            summary = report["tables"]["summary"]["rows"]
            assert len(css(browser, "#chart-deadlines g.bar-group")) == len(summary)
            nonzero = sum(1 for row in summary for key in ("overdue", "dueSoon", "ok") if row[key])
            assert len(css(browser, "#chart-deadlines rect.bar")) == nonzero
            assert len(css(browser, "#report-rules li")) == len(report["rules"])
            screenshot(browser, "coordinator-report-deadlines")
    assert missing_strings(browser) == []


# MARK: Conflicts

def make_conflict(region, first="jakobstad", second="nykarleby"):
    """The same field of one client written at two nodes at once, until both hold the conflict."""
    clients = region.request("GET", "/v1/clients?ownerMunicipality=598&status=assessed&limit=20").json()["items"]
    assert clients, "the demo data has assessed clients in Jakobstad"
    office = region.token("office", "jakobstad")   # every demo node accepts each office's credential
    for attempt, client in enumerate(clients[:8]):
        barrier = threading.Barrier(2)
        answers = {}

        def write(node, value):
            barrier.wait()
            answers[node] = region.request("PATCH", f"/v1/clients/{client['id']}", node=node, role=None, body={"status": value},
                                           headers={"Authorization": f"Bearer {office}"}).status

        threads = [threading.Thread(target=write, args=(first, "plan_ended")), threading.Thread(target=write, args=(second, "moved_away"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers == {first: 200, second: 200}, f"the two writes answered {answers}"
        deadline = time.time() + 20
        while time.time() < deadline:
            held = [any(item["field"] == "status" and client["id"] in item["id"]
                        for item in region.request("GET", "/v1/conflicts", node=node).json()["items"]) for node in (first, second)]
            if all(held):
                return client["id"]
            time.sleep(0.3)
    raise AssertionError("no conflict after eight pairs of concurrent writes")


def test_conflict_resolved_in_the_page_disappears_at_a_second_node(browser, region):
    client_id = make_conflict(region)
    conflict_id = f"clients:{client_id}:status"
    before = region.request("GET", f"/v1/clients/{client_id}").json()
    winner = before["fields"]["status"]
    frontier = [item["value"] for item in before["conflicts"] if item["field"] == "status"]
    assert frontier and winner in ("plan_ended", "moved_away")
    chosen = frontier[0]

    sign_in(browser, region, "coordinator")
    go(browser, "conflicts")
    card = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, f"article[data-conflict-id='{conflict_id}']"), what="the conflict")
    # Side by side: the merge's value first, then each concurrent one, each with a choose button.
    values = [box.find_element(By.CSS_SELECTOR, ".value").text for box in card.find_elements(By.CSS_SELECTOR, ".version")]
    label = {"plan_ended": "Plan ended", "moved_away": "Moved away"}
    assert values == [label[winner]] + [label[value] for value in frontier]
    screenshot(browser, "coordinator-conflicts")

    buttons = card.find_elements(By.CSS_SELECTOR, "button.choose")
    assert [b.get_attribute("data-value") for b in buttons] == [f'"{winner}"'] + [f'"{value}"' for value in frontier]
    buttons[1].click()
    outcome = wait(browser, lambda d: (css(d, "#main .message.success") or css(d, f"article[data-conflict-id='{conflict_id}'] .feedback .message.error")),
                   what="the answer to resolve")[0]
    assert "success" in outcome.get_attribute("class"), f"resolving failed in the page: {outcome.text}"
    wait(browser, lambda d: not css(d, f"article[data-conflict-id='{conflict_id}']"), what="the conflict to leave the list")

    # It replicates: the second node has the chosen value and no open conflict on the field.
    deadline = time.time() + 60
    while time.time() < deadline:
        at_second = region.request("GET", f"/v1/clients/{client_id}", node="nykarleby").json()
        open_items = [item for item in region.request("GET", "/v1/conflicts", node="nykarleby").json()["items"]
                      if client_id in item["id"] and item["field"] == "status"]
        if at_second["fields"]["status"] == chosen and not open_items:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("nykarleby still shows the conflict or another value after 60 s")
    assert not [item for item in region.request("GET", "/v1/conflicts").json()["items"] if client_id in item["id"]]


# MARK: Admin

def test_admin_sees_every_link_refreshing(browser, region):
    sign_in(browser, region, "admin")
    rows = wait(browser, lambda d: css(d, "#peers-table tbody tr") if len(css(d, "#peers-table tbody tr")) == 4 else None,
                what="the four peers")
    status = region.status("jakobstad")
    assert {row.get_attribute("data-node") for row in rows} == {peer["node"] for peer in status["peers"]}
    for row in rows:
        cells = row.find_elements(By.TAG_NAME, "td")
        peer = next(p for p in status["peers"] if p["node"] == row.get_attribute("data-node"))
        assert row.get_attribute("data-level") == "ok", f"{peer['node']} link state {peer['state']}"
        assert cells[1].find_element(By.CSS_SELECTOR, ".badge.ok").text == "OK"    # state in words, not colour alone
        assert re.search(r"ago|now", cells[3].text), "last success as a relative time"
        assert cells[3].find_element(By.TAG_NAME, "time").get_attribute("datetime")
    # The drawing: five members, four edges from this node, coloured by state.
    assert len(css(browser, "#links-drawing g.member")) == 5
    edges = css(browser, "#links-drawing line.edge")
    assert len(edges) == 4 and all("ok" in edge.get_attribute("class").split() for edge in edges)
    assert browser.find_element(By.CSS_SELECTOR, "#node-facts .badge").text == "OK"
    screenshot(browser, "admin-sync")
    # Refreshes on its own.
    first = browser.find_element(By.ID, "sync-updated").text
    wait(browser, lambda d: d.find_element(By.ID, "sync-updated").text != first, timeout=15, what="an automatic refresh")
    browser.find_element(By.ID, "sync-pause").click()
    assert browser.find_element(By.ID, "sync-updated").text == "Auto-refresh is paused."


# MARK: Office

def set_field(driver, name, value):
    control = driver.find_element(By.ID, f"f-{name}")
    if control.tag_name == "select":
        Select(control).select_by_value(value)
    elif control.get_attribute("type") == "date":
        # Typing into a date input depends on the browser's locale; set it as a person picking a date would end up.
        driver.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'));", control, value)
    else:
        control.clear()
        control.send_keys(value)


def test_office_creates_a_record_after_fixing_the_field_the_server_refused(browser, region):
    sign_in(browser, region, "office")
    wait(browser, lambda d: len(css(d, "#records-records tbody tr")) > 0, what="the office's clients")
    municipality_cells = {row.find_elements(By.TAG_NAME, "td")[1].text for row in css(browser, "#records-records tbody tr")}
    assert municipality_cells == {"Jakobstad"}, "an office lists its own municipality's clients"
    screenshot(browser, "office-records")

    browser.find_element(By.ID, "new-clients").click()
    wait(browser, lambda d: d.find_element(By.ID, "record-form"), what="the new client form")
    # The form follows /v1/schema: one labelled control per field, none without a label.
    schema = region.request("GET", "/v1/schema", role="office").json()
    client_fields = next(kind for kind in schema["kinds"] if kind["table"] == "clients")["fields"]
    assert len(css(browser, "#record-form .field")) == len(client_fields)
    unlabelled = browser.execute_script(
        "return Array.from(document.querySelectorAll('#main input, #main select')).filter((c) => !c.labels || !c.labels.length).map((c) => c.id)")
    assert unlabelled == []
    assert browser.find_element(By.ID, "f-ownerMunicipality").get_attribute("value") == "598"

    number = f"WEB-{uuid.uuid4().hex[:8]}"
    for name, value in (("clientNumber", number), ("givenName", "Testi"), ("familyName", "Selain"), ("birthDate", "1990-02-03"),
                        ("integrationLanguage", "sv"), ("planStatus", "none"), ("status", "new"),
                        ("personalIdentityCode", "030290-12")):
        set_field(browser, name, value)
    browser.find_element(By.ID, "form-save").click()

    field = wait(browser, lambda d: d.find_element(By.ID, "f-personalIdentityCode")
                 if d.find_element(By.ID, "f-personalIdentityCode").get_attribute("aria-invalid") == "true" else None,
                 what="the refused field marked invalid")
    described = field.get_attribute("aria-describedby").split()
    assert "f-personalIdentityCode-error" in described
    assert browser.find_element(By.ID, "f-personalIdentityCode-error").text == "malformed personal identity code"
    invalid = [c.get_attribute("id") for c in css(browser, "#record-form [aria-invalid='true']")]
    assert invalid == ["f-personalIdentityCode"], "only the refused field is marked"
    summary = browser.find_element(By.ID, "error-summary")
    assert summary.get_attribute("role") == "alert" and "Personal identity code" in summary.text
    # Nothing was written.
    assert region.request("GET", f"/v1/clients?clientNumber={number}").json()["items"] == []
    screenshot(browser, "office-form-error")

    # The typed values survive; the fix is only to empty the field.
    assert browser.find_element(By.ID, "f-clientNumber").get_attribute("value") == number
    set_field(browser, "personalIdentityCode", "")
    browser.find_element(By.ID, "f-personalIdentityCode").send_keys(Keys.BACKSPACE)
    browser.find_element(By.ID, "form-save").click()
    saved = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#main .message.success"), what="the saved message")
    assert saved.text == f"Saved: Client {number}"
    assert not css(browser, "#record-form [aria-invalid='true']")

    items = region.request("GET", f"/v1/clients?clientNumber={number}").json()["items"]
    assert len(items) == 1
    fields = items[0]["fields"]
    want = {"clientNumber": number, "ownerMunicipality": 598, "givenName": "Testi", "familyName": "Selain",
            "birthDate": "1990-02-03", "integrationLanguage": "sv", "planStatus": "none", "status": "new",
            "personalIdentityCode": None}
    wrong = [name for name, value in want.items() if fields[name] != value]
    assert wrong == [], f"fields saved differently: {wrong}"

    # Editing sends only what changed.
    set_field(browser, "status", "assessment_pending")
    browser.find_element(By.ID, "form-save").click()
    wait(browser, lambda d: region.request("GET", f"/v1/clients/{items[0]['id']}").json()["fields"]["status"] == "assessment_pending",
         what="the edit to be saved")
    after = region.request("GET", f"/v1/clients/{items[0]['id']}").json()
    assert after["stamps"]["status"]["seq"] > after["stamps"]["clientNumber"]["seq"], "the edit wrote status alone"
    assert after["stamps"]["givenName"] == after["stamps"]["clientNumber"], "untouched fields keep the creating change"


# MARK: Keyboard

def test_keyboard_reaches_content_first_and_shows_focus(browser, region):
    sign_in(browser, region, "coordinator")
    # A fresh load (the session resumes): the first Tab reaches the skip link.
    browser.refresh()
    wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true", what="the page to start")
    ActionChains(browser).send_keys(Keys.TAB).perform()
    active = browser.switch_to.active_element
    assert active.get_attribute("id") == "skip-link" and active.text == "Skip to content"
    assert active.value_of_css_property("outline-style") != "none", "focus is visible"
    active.send_keys(Keys.ENTER)
    assert browser.switch_to.active_element.get_attribute("id") == "main"
    # Views are links reachable by keyboard; Enter opens one.
    link = browser.find_element(By.ID, "nav-reports")
    assert link.tag_name == "a" and link.get_attribute("href").endswith("#/reports")
    link.send_keys(Keys.ENTER)
    wait(browser, lambda d: d.find_element(By.ID, "nav-reports").get_attribute("aria-current") == "page", what="the reports view")
    buttons = css(browser, "#main [role=group] button")
    assert buttons and all(b.tag_name == "button" for b in buttons)
