"""One server process's saver, run alone: save a task's images through the journal's claims, print the results.

`python tests/support/save_worker.py '<json>'` with keys sqlite, database_url, out, urls, task_id, host,
lease, start_at (wall clock: processes started together begin their saves together). Prints one JSON line:
per image its path and save_error.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2

from runapi_mcp.core.concurrency import gather
from runapi_mcp.core.config import CoreConfig
from runapi_mcp.core.folders import OutputFolder
from runapi_mcp.core.journal import TaskParams, open_journal
from runapi_mcp.core.saving import ResultSaver
from runapi_mcp.core.types import Cost, SavedImage, TaskRun


async def main(args: dict[str, Any]) -> None:
    out = Path(args["out"])
    journal = open_journal(sqlite_path=Path(args["sqlite"]), database_url=args.get("database_url"))
    config = CoreConfig(base_url=f"http://{args['host']}", working_dir=out, fallback_output_dir=out, request_timeout=30)
    run = TaskRun("text_to_image", "save-worker", TaskParams(prompt="p"), OutputFolder(out))
    cost = Cost(0.03, "estimated")
    try:
        async with httpx2.AsyncClient() as http:
            saver = ResultSaver(
                http,
                config,
                allow_hosts=(args["host"],),
                sandbox=True,
                claims=journal.claims,
                claim_lease=args["lease"],
            )
            await journal.recent(limit=1)  # open (and migrate) the journal before the common start
            print("READY", flush=True)
            await anyio.sleep(max(0.0, float(args["start_at"]) - time.time()))

            async def one(index: int) -> SavedImage:
                return await saver.save(run, args["task_id"], index, args["urls"][index], cost)

            images = await gather([lambda i=i: one(i) for i in range(len(args["urls"]))])
    finally:
        await journal.close()
    print(json.dumps([{"path": str(i.path) if i.path else None, "save_error": i.save_error} for i in images]))


if __name__ == "__main__":
    anyio.run(main, json.loads(sys.argv[1]))
