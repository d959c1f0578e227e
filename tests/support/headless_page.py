#!/usr/bin/env python3
"""Loads a page in headless Chromium, waits until a JavaScript condition holds,
and keeps what a test checks: the DOM, a screenshot, a report the page
computes, and every console message, uncaught exception and browser log
entry, each with its level.

  headless_page.py --chromium PATH --url URL --out DIR [--until JS] [--report JS]
                   [--timeout SECONDS] [--size WIDTH,HEIGHT]

Writes DIR/dom.html, DIR/screenshot.png (the whole page), DIR/report.txt (the
string --report evaluates to), DIR/console.txt (one line per message: LEVEL
SOURCE: TEXT, LEVEL being error, warning, info, log or debug) and
DIR/chromium.log (Chromium's own output). Exit status 0 when --until held
before the timeout, 1 when it did not (the files are written either way), 2
when Chromium could not be driven.

Chromium is driven through the DevTools protocol on a pipe
(--remote-debugging-pipe: NUL-terminated JSON on file descriptors 3 and 4)
rather than by --dump-dom: --dump-dom and --screenshot act on the load event,
and neither --virtual-time-budget nor --timeout holds them back while a fetch
streams its body, so they catch a streamed answer half-written. The protocol
also gives each console message its type; Chromium's log prints a web page's
console.error and console.log alike, at INFO.
"""
import argparse
import base64
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time


class Browser:
    """One headless Chromium and one page in it, spoken to over the pipe."""

    def __init__(self, chromium, log_file, width, height):
        self.profile = tempfile.TemporaryDirectory(prefix="headless-page-")
        to_browser_read, self.to_browser = os.pipe()
        self.from_browser, from_browser_write = os.pipe()
        keep = (os.dup(to_browser_read), os.dup(from_browser_write))

        def place_pipes():
            # The protocol's fixed descriptors; kept (pass_fds) past the close of the others.
            os.dup2(keep[0], 3)
            os.dup2(keep[1], 4)

        self.process = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--remote-debugging-pipe", "--enable-logging=stderr", "--v=0",
             f"--user-data-dir={self.profile.name}", f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            pass_fds=(3, 4), preexec_fn=place_pipes, start_new_session=True)
        for fd in (to_browser_read, from_browser_write, *keep):
            os.close(fd)
        self.buffer = b""
        self.next_id = 0
        self.session = None
        self.messages = []  # (level, source, text) in the order they came

    def send(self, method, params=None, session=True):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        return self.next_id

    def call(self, method, params=None, timeout=10.0, session=True):
        """Sends a command and returns its result, recording the events that come meanwhile."""
        wanted = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            message = self.receive(deadline)
            if message is None:
                raise RuntimeError(f"Chromium did not answer {method} within {timeout:.0f} s")
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error'].get('message')}")
                return message.get("result", {})
            self.record(message)

    def receive(self, deadline):
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.from_browser], [], [], left)[0]:
                return None
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed its end of the pipe (see chromium.log)")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def record(self, message):
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled":
            level = {"warning": "warning", "error": "error", "assert": "error", "info": "info",
                     "debug": "debug"}.get(params.get("type"), "log")
            text = " ".join(describe(arg) for arg in params.get("args", []))
            self.messages.append((level, "console." + params.get("type", "log"), text))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            exception = details.get("exception", {})
            text = exception.get("description") or details.get("text", "")
            where = f"{details.get('url', '')}:{details.get('lineNumber', -1) + 1}"
            self.messages.append(("error", "uncaught", f"{text} ({where})"))
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            level = {"verbose": "debug"}.get(entry.get("level"), entry.get("level", "info"))
            url = f" ({entry['url']})" if entry.get("url") else ""
            self.messages.append((level, entry.get("source", "browser"), entry.get("text", "") + url))

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluating {expression!r}: {describe(result['exceptionDetails'])}")
        return result.get("result", {}).get("value")

    def close(self):
        try:
            self.send("Browser.close", session=False)
            self.process.wait(timeout=5)
        except Exception:
            pass
        # Chromium's helpers (zygote, renderers, GPU) share its process group: none outlives the test.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        os.close(self.to_browser)
        os.close(self.from_browser)
        self.profile.cleanup()


def describe(remote):
    if "value" in remote:
        return remote["value"] if isinstance(remote["value"], str) else json.dumps(remote["value"])
    return remote.get("description") or remote.get("text") or remote.get("type", "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chromium", required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--until", default="document.readyState === 'complete'")
    ap.add_argument("--report", default="''")
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--size", default="1000,1200")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split(","))
    os.makedirs(args.out, exist_ok=True)

    # A test that is stopped (SIGTERM, SIGINT) still closes Chromium, in the finally below.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda number, _: sys.exit(128 + number))
    with open(os.path.join(args.out, "chromium.log"), "wb") as log:
        browser = Browser(args.chromium, log, width, height)
        try:
            target = browser.call("Target.createTarget", {"url": "about:blank"}, timeout=30, session=False)
            attached = browser.call("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True},
                                    session=False)
            browser.session = attached["sessionId"]
            # Enabled before the navigation, so nothing the page says is missed.
            for domain in ("Runtime", "Log", "Page"):
                browser.call(domain + ".enable")
            browser.call("Emulation.setDeviceMetricsOverride",
                         {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
            browser.call("Page.navigate", {"url": args.url})
            deadline = time.monotonic() + args.timeout
            held = False
            # Until the page has loaded, the condition may throw (its elements are not there yet).
            until = f"(() => {{ try {{ return Boolean({args.until}); }} catch (_) {{ return false; }} }})()"
            while time.monotonic() < deadline:
                if browser.evaluate(until):
                    held = True
                    break
                time.sleep(0.1)
            report = browser.evaluate(f"String({args.report})")
            dom = browser.evaluate("(document.doctype ? new XMLSerializer().serializeToString(document.doctype)"
                                   " + '\\n' : '') + document.documentElement.outerHTML")
            size = browser.call("Page.getLayoutMetrics")["cssContentSize"]
            shot = browser.call("Page.captureScreenshot",
                                {"format": "png", "captureBeyondViewport": True,
                                 "clip": {"x": 0, "y": 0, "width": width,
                                          "height": max(height, size["height"]), "scale": 1}})
            browser.call("Runtime.evaluate", {"expression": "0"})  # collects the events still in the pipe
        except RuntimeError as e:
            print(f"headless_page: {e}", file=sys.stderr)
            return 2
        finally:
            browser.close()
            with open(os.path.join(args.out, "console.txt"), "w", encoding="utf-8") as f:
                for level, source, text in browser.messages:
                    f.write(f"{level} {source}: {' '.join(text.split())}\n")

    with open(os.path.join(args.out, "dom.html"), "w", encoding="utf-8") as f:
        f.write(dom + "\n")
    with open(os.path.join(args.out, "screenshot.png"), "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    with open(os.path.join(args.out, "report.txt"), "w", encoding="utf-8") as f:
        f.write(report + "\n")
    if not held:
        print(f"headless_page: {args.until} did not hold within {args.timeout:.0f} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
