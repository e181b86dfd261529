"""The web app in a real browser: headless Chromium driven by Selenium.

A fan signs in (demo), joins a room, is admitted, sees the live seat map, selects two seats,
holds, charges the wallet, pays and sees the ticket, while a second browser on the same seat
map sees the two seats turn held and then sold without reloading. An organiser creates a
performance with a sale and watches the dashboard's sold count follow a scripted crowd.

Run by BrowserTests.swift against a `concert serve` in demo mode:
    python3 web_app.py BASE_URL PERFORMANCE_ID SCHEDULE_ID SCREENSHOT_DIR
Prints one line per step; exits non-zero at the first failure.
"""
import json
import os
import sys
import time
import urllib.request
import uuid

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

BASE, PERFORMANCE, SCHEDULE, SHOTS = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
WAIT = 30


def browser(width, height):
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--window-size={width},{height}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
    driver.set_window_size(width, height)
    return driver


def by_test_id(name):
    return (By.CSS_SELECTOR, f'[data-testid="{name}"]')


def wait_for(driver, name, condition=EC.visibility_of_element_located):
    return WebDriverWait(driver, WAIT).until(condition(by_test_id(name)))


def click(driver, name):
    """Clicks the element once it can be clicked, finding it again if the page re-rendered it."""
    for _ in range(5):
        try:
            wait_for(driver, name, EC.element_to_be_clickable).click()
            return
        except StaleElementReferenceException:
            time.sleep(0.2)
    raise AssertionError(f"{name} kept being re-rendered")


def wait_until(driver, predicate, what):
    try:
        WebDriverWait(driver, WAIT).until(lambda d: predicate(d))
    except Exception:
        page = driver.find_element(By.TAG_NAME, "main").text
        raise AssertionError(f"timed out waiting for {what}; the page reads:\n{page}")


def text_of(driver, name):
    return driver.find_element(*by_test_id(name)).text


def step(text):
    print(f"ok: {text}", flush=True)


def sign_in(driver, path, user):
    driver.get(BASE + path)
    field = wait_for(driver, "demo-user-id")
    field.clear()
    field.send_keys(str(user))
    driver.find_element(*by_test_id("demo-sign-in")).click()
    # The page renders again once signed in: wait for that before using it.
    wait_until(driver, lambda d: f"user {user}" in d.find_element(By.ID, "who").text, f"user {user} to be signed in")


def fan_reaches_seat_map(driver, user):
    sign_in(driver, "/", user)
    click(driver, f"performance-{PERFORMANCE}")
    click(driver, "join")
    wait_until(driver, lambda d: text_of(d, "status") == "active", f"user {user} to be admitted")
    click(driver, f"schedule-{SCHEDULE}")
    wait_for(driver, "seat-1")


def seat_status(driver, number):
    return driver.find_element(*by_test_id(f"seat-{number}")).get_attribute("data-status")


def api(method, path, body=None, credential=None, queue_token=None):
    request = urllib.request.Request(BASE + path, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    request.add_header("Idempotency-Key", str(uuid.uuid4()))
    if credential:
        request.add_header("Authorization", f"Bearer {credential}")
    if queue_token:
        request.add_header("Queue-Token", queue_token)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def crowd_buys(performance, schedule, users, first_user):
    """Each user of the crowd signs in, joins, waits to be admitted, holds one seat and pays."""
    for index in range(users):
        credential = api("POST", "/v1/demo/sign-in", {"user_id": first_user + index})["credential"]
        token = api("POST", "/v1/queue/tokens", {"performance_id": performance}, credential)["token"]
        deadline = time.time() + WAIT
        while api("GET", "/v1/queue/tokens/current", queue_token=token)["status"] != "active":
            assert time.time() < deadline, "a crowd member was never admitted"
            time.sleep(0.2)
        reservation = api("POST", "/v1/reservations", {"schedule_id": schedule, "seat_numbers": [index + 1]}, credential, token)
        api("POST", "/v1/wallet/charges", {"amount": reservation["total_price"]}, credential)
        api("POST", f"/v1/reservations/{reservation['id']}/payment", None, credential)


def fan_journey():
    desktop, phone = browser(1280, 900), browser(390, 844)
    try:
        fan_reaches_seat_map(desktop, 101)
        step("a fan signed in, joined, was admitted and sees the seat map")
        fan_reaches_seat_map(phone, 102)
        step("a second fan watches the same seat map on a phone-sized screen")

        for number in (1, 2):
            desktop.find_element(*by_test_id(f"seat-{number}")).click()
            assert desktop.find_element(*by_test_id(f"seat-{number}")).get_attribute("aria-pressed") == "true"
        label = desktop.find_element(*by_test_id("seat-1")).get_attribute("aria-label")
        assert "Seat 1" in label and "grade" in label and "price" in label, label
        desktop.save_screenshot(os.path.join(SHOTS, "seat-map-desktop.png"))
        desktop.find_element(*by_test_id("hold")).click()
        wait_for(desktop, "hold-countdown")
        step("two seats selected and held; the hold counts down")

        wait_until(phone, lambda d: seat_status(d, 1) == "held" and seat_status(d, 2) == "held", "the watcher to see the seats held")
        step("the watcher saw both seats turn held without reloading")
        phone.save_screenshot(os.path.join(SHOTS, "seat-map-phone.png"))

        amount = desktop.find_element(*by_test_id("charge-amount"))
        amount.send_keys("100000")
        desktop.find_element(*by_test_id("charge")).click()
        wait_until(desktop, lambda d: text_of(d, "balance").replace(",", "").replace(".", "").replace("\u202f", "") == "100000", "the balance")
        desktop.find_element(*by_test_id("pay")).click()
        wait_until(desktop, lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid^="ticket-"]'), "the ticket")
        ticket = desktop.find_element(By.CSS_SELECTOR, '[data-testid^="ticket-"]').text
        assert "confirmed" in ticket, ticket
        step("the wallet was charged, the seats paid and the ticket shown")

        wait_until(phone, lambda d: seat_status(d, 1) == "sold" and seat_status(d, 2) == "sold", "the watcher to see the seats sold")
        step("the watcher saw both seats turn sold without reloading")

        desktop.get(f"{BASE}/#/performances/{PERFORMANCE}")
        wait_for(desktop, "draw-verified")
        assert "verified" in text_of(desktop, "draw-verified").lower()
        assert len(text_of(desktop, "draw-seed")) == 64
        desktop.save_screenshot(os.path.join(SHOTS, "room-desktop.png"))
        step("the room page checked the draw in the browser")
    finally:
        desktop.quit()
        phone.quit()


def organiser_dashboard():
    driver = browser(1280, 900)
    try:
        sign_in(driver, "/admin", 1)
        driver.get(BASE + "/admin#/new")
        form = wait_for(driver, "create-performance")
        driver.find_element(By.ID, "title").send_keys("Browser Gala")
        driver.find_element(By.ID, "performer").send_keys("The Selenium Quartet")
        # The sale starts now, so that the crowd is admitted at once.
        driver.execute_script("document.getElementById('starts').value = document.getElementById('prequeue').value")
        seats = driver.find_element(By.ID, "seats")
        seats.clear()
        seats.send_keys("S:10:3000")
        form.click()
        wait_until(driver, lambda d: "#/dashboard/" in d.current_url, "the dashboard")
        performance = int(driver.current_url.rsplit("/", 1)[1])
        wait_until(driver, lambda d: text_of(d, "dashboard-sold") == "0", "the dashboard's first figures")
        step(f"the organiser created performance {performance} and sees its dashboard")

        listing = api("GET", f"/v1/performances/{performance}")
        schedule = listing["schedules"][0]["id"]
        crowd_buys(performance, schedule, 3, 500)
        wait_until(driver, lambda d: text_of(d, "dashboard-sold") == "3", "the dashboard to count 3 sold")
        assert int(text_of(driver, "dashboard-active")) >= 0 and int(text_of(driver, "dashboard-waiting")) >= 0
        driver.save_screenshot(os.path.join(SHOTS, "dashboard-desktop.png"))
        step("the dashboard's sold count followed a scripted crowd")
    finally:
        driver.quit()


if __name__ == "__main__":
    fan_journey()
    organiser_dashboard()
    print("all browser checks passed")
