"""The benchmarks' loopback servers as processes of their own: an asyncio server on a free port
of 127.0.0.1, spawned (nothing inherited from the benchmark), its port sent back once it
listens, and stopped with terminate, then kill."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

START_TIMEOUT = 30.0


def listen(conn: Any, protocol: Callable[[], asyncio.Protocol], backlog: int) -> None:
    """In the child: serve `protocol` on a free loopback port, sent on `conn`, until stopped."""

    async def main() -> None:
        listener = await asyncio.get_running_loop().create_server(
            protocol, "127.0.0.1", 0, backlog=backlog
        )
        conn.send(listener.sockets[0].getsockname()[1])
        conn.close()
        await listener.serve_forever()

    asyncio.run(main())


def start(name: str, serve: Callable[..., None], *args: Any) -> tuple[BaseProcess, str]:
    """Spawn `serve(conn, *args)` (which calls `listen`); the process and its base URL."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=serve, args=(child, *args), name=name, daemon=True)
    process.start()
    child.close()
    if not parent.poll(START_TIMEOUT):
        stop(process)
        raise RuntimeError(f"the {name} did not start within {START_TIMEOUT:.0f} s")
    return process, f"http://127.0.0.1:{parent.recv()}"


def stop(process: BaseProcess | None) -> None:
    if process is not None and process.is_alive():
        process.terminate()
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join(5)
