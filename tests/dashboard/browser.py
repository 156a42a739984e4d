"""Playwright driving Debian's Chromium (installed by ``make browser``), with every console
error and page error collected so a test can assert there were none."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect

from tests.support import WAIT

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "dashboard"


@dataclass
class Tab:
    page: Page
    shots: Path
    errors: list[str] = field(default_factory=list)

    def take_errors(self) -> list[str]:
        """The errors so far, forgotten: for a step that must produce one (a refused form)."""
        taken, self.errors[:] = list(self.errors), []
        return taken

    async def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path


async def launch() -> AsyncIterator[Browser]:
    # Playwright waits 5 s for what a test expects; a busy machine can take longer.
    expect.set_options(timeout=WAIT * 1000)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


async def open_tab(browser: Browser, test_name: str) -> Tab:
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(WAIT * 1000)
    page = await context.new_page()
    shots = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
    shots.mkdir(parents=True, exist_ok=True)
    tab = Tab(page, shots)

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            tab.errors.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    # Confirmation dialogs (revoke, delete) are accepted as a person would.
    page.on("dialog", lambda dialog: dialog.accept())
    return tab
