"""Run one of node/'s client scripts against the real server: each prints one JSON line
per step (``{"step": name, ...}``), read back here as a mapping of step name to what it
saw."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).parent / "node"


async def node_steps(
    script: str, *args: str, package: str, cwd: Path = NODE_DIR
) -> dict[str, dict[str, Any]]:
    """``node node/<script> <args>`` (``package`` must be installed: make install-dev), at
    most 60 s; it must exit 0."""
    node = shutil.which("node")
    assert node is not None, "Node.js is needed (make install-dev installs it)"
    assert (NODE_DIR / "node_modules" / package).is_dir(), "run make install-dev (npm ci)"
    proc = await asyncio.create_subprocess_exec(
        node,
        str(NODE_DIR / script),
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, (out.decode(), err.decode())
    return {s.pop("step"): s for s in map(json.loads, out.decode().splitlines())}
