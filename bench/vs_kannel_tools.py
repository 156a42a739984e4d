"""The tools ``vs_kannel.py`` runs, installed from Debian's packages when missing:
``kannel`` (bearerbox, smsbox), ``kannel-extras`` (its test programs, ``fakesmsc`` among
them, under /usr/lib/kannel/test) and ``wrk``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import kannel_gateway

PACKAGES = {
    "kannel": [kannel_gateway.BEARERBOX, kannel_gateway.SMSBOX],
    "kannel-extras": [],  # fakesmsc: looked up in the package's file list
    "wrk": ["/usr/bin/wrk"],
}


def _installed(package: str) -> bool:
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    )
    return proc.returncode == 0 and proc.stdout.strip() == "install ok installed"


def _apt_install(packages: list[str]) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", *packages]
    # apt's chatter goes to stderr, so that stdout keeps the report alone.
    if subprocess.run(cmd, env=env, stdout=sys.stderr, check=False).returncode == 0:
        return
    # The package lists may be missing or stale: refresh them once and try again.
    subprocess.run(["apt-get", "update"], env=env, stdout=sys.stderr, check=True)
    subprocess.run(cmd, env=env, stdout=sys.stderr, check=True)


def ensure_tools() -> tuple[list[str], str]:
    """Install what is missing (by package name); (packages installed now, fakesmsc path)."""
    missing = [
        name
        for name, files in PACKAGES.items()
        if not _installed(name) or not all(Path(f).exists() for f in files)
    ]
    if missing:
        if os.geteuid() != 0:
            raise SystemExit(
                f"missing packages {missing}: run `apt-get install -y {' '.join(missing)}`"
            )
        print(f"installing {', '.join(missing)} with apt-get", file=sys.stderr, flush=True)
        _apt_install(missing)
    files = subprocess.run(
        ["dpkg", "-L", "kannel-extras"], capture_output=True, text=True, check=True
    ).stdout.split()
    fakesmsc = next((f for f in files if Path(f).name == "fakesmsc"), None)
    if fakesmsc is None or not Path(fakesmsc).exists():
        raise SystemExit("kannel-extras holds no fakesmsc")
    return missing, fakesmsc


def versions() -> dict[str, str]:
    def version(package: str) -> str:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package],
            capture_output=True,
            text=True,
            check=False,
        )
        return proc.stdout.strip() or "?"

    return {name: version(name) for name in PACKAGES}
