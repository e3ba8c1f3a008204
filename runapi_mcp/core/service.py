"""The generation flow as the server calls it: run a generate or edit job, continue a task, read history.

A job becomes one `TaskRun` per task, built once from the call and the journal's row for its key; create
(core.create) and follow (core.follow) take that record, so the journal is read once per task.

The flow's parts (create, follow, saving, hosted images, spending, retention, callbacks) are imported where
they are used, at a tool call: the server registers its tools with this class before its first answer, and
every session's start-up would otherwise pay for all of them.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx2

from runapi_mcp.core.concurrency import gather_settled
from runapi_mcp.core.config import CoreConfig
from runapi_mcp.core.errors import CoreError, InputError
from runapi_mcp.core.files import read_beneath
from runapi_mcp.core.folders import OutputFolder, resolve_output_dir
from runapi_mcp.core.jobs import ImageJob
from runapi_mcp.core.journal import (
    LOCAL_OWNER,
    MAY_EXIST_WITHOUT_ID,
    Journal,
    SourceRef,
    TaskParams,
    TaskRow,
    TaskState,
    stored_reference,
)
from runapi_mcp.core.progress import ProgressFn, ProgressTracker
from runapi_mcp.core.types import JobOutcome, TaskOutcome, TaskRun, Workspace
from runapi_mcp.runapi.client import RunAPIClient
from runapi_mcp.runapi.errors import NotFoundError, RunAPIError
from runapi_mcp.runapi.models import Action, Balance

if TYPE_CHECKING:
    from runapi_mcp.core.previews_store import PreviewStore
    from runapi_mcp.core.sources import SourceResolver
    from runapi_mcp.core.spending import SpendToday


class ImageService:
    def __init__(
        self,
        *,
        client: RunAPIClient,
        journal: Journal,
        http: httpx2.AsyncClient,
        config: CoreConfig,
        sources: SourceResolver,
        owner: str | None = None,
        sandbox: bool = False,
        host: str | None = None,
        previews: PreviewStore | None = None,
    ) -> None:
        from runapi_mcp.core.create import TaskCreator
        from runapi_mcp.core.follow import TaskFollower
        from runapi_mcp.core.hosted import HostedImages, HostedSaver, ImageFetcher
        from runapi_mcp.core.retention import Retention
        from runapi_mcp.core.saving import ResultSaver
        from runapi_mcp.core.spending import SpendLedger, SpendLimits
        from runapi_mcp.core.urlsafety import own_origin
        from runapi_mcp.runapi.polling import PollSchedule

        self._client = client
        self._journal = journal
        self._config = config
        self._resolver = sources
        self._owner = owner
        self._retention = Retention(config.retention_days, config.max_tasks_per_owner)
        self._sandbox = sandbox
        self._wait_seconds = config.wait_budget(host)  # per host: what its tool-call timeout allows
        hosts = own_origin(config.base_url)
        # Hosted (a shared database): images go to the shared store, results carry URLs, never paths.
        self._previews = previews
        self._hosted = None if previews is None else HostedImages(previews, ImageFetcher(http, config, hosts))
        saver = (
            ResultSaver(http, config, allow_hosts=hosts, sandbox=sandbox, claims=journal.claims)
            if previews is None
            else HostedSaver(
                http, config, allow_hosts=hosts, sandbox=sandbox, store=previews, owner=owner or LOCAL_OWNER
            )
        )
        # The floor guards against RunAPI's hints; a schedule configured faster than it keeps its own pace.
        floor = min(config.poll_floor_seconds, config.poll_initial_seconds)
        schedule = PollSchedule(initial=config.poll_initial_seconds, maximum=config.poll_max_seconds, floor=floor)
        self._schedule = schedule
        self._creator = TaskCreator(client, journal, owner, public_url=config.public_url)
        self._spend = SpendLedger(journal, SpendLimits.of(config), owner)
        self._follower = TaskFollower(client, journal, saver, schedule, callbacks=bool(config.public_url))

    # ---- generate and edit ------------------------------------------------------------------

    async def run(self, job: ImageJob, workspace: Workspace, progress: ProgressFn) -> JobOutcome:
        from runapi_mcp.core.retention import prune
        from runapi_mcp.core.spending import call_keys, may_charge

        await prune(self._journal, self._previews, self._retention, self._owner)
        folder = await anyio.to_thread.run_sync(self._folder, job.output_dir, workspace)
        deadline = self._deadline(job.wait)
        call_key = job.idempotency_key or f"runapi-mcp-{uuid.uuid4()}"
        keys = call_keys(call_key, job.count)
        rows = [await self._journal.get_by_key(key, owner=self._owner) for key in keys]
        request = await anyio.to_thread.run_sync(_request_of, job)
        for key, row in zip(keys, rows, strict=True):
            if row is not None and row.params.request() != request:
                raise InputError(
                    f"idempotency_key '{key}' was already used for a different request. "
                    "Use a new key, or call get_task to follow the earlier task."
                )
        sources = await self._sources(job, rows[0], workspace)
        params = TaskParams(
            prompt=job.prompt, aspect_ratio=job.aspect_ratio, output_resolution=job.output_resolution, sources=sources
        )
        runs = [TaskRun(job.action, key, params, folder, call_key=call_key) for key in keys]
        await self._reserve(job, [key for key, row in zip(keys, rows, strict=True) if may_charge(row)])
        tracker = ProgressTracker(progress, len(runs), deadline)
        settled = await gather_settled(
            [
                partial(self._create_and_follow, run, row, job.wait, deadline, tracker)
                for run, row in zip(runs, rows, strict=True)
            ]
        )
        tasks: list[TaskOutcome] = []
        for run, item in zip(runs, settled, strict=True):
            if isinstance(item, TaskOutcome):
                tasks.append(item)
            elif len(runs) == 1 or not isinstance(item, RunAPIError | CoreError):
                raise item
            else:
                # Siblings may have made tasks: report this one's failure beside them rather than hide theirs.
                tasks.append(
                    TaskOutcome(
                        action=run.action,
                        idempotency_key=run.idempotency_key,
                        task_id=None,
                        status="rejected",
                        error=str(item),
                        cause=item,
                    )
                )
        return JobOutcome(
            tasks=tuple(tasks),
            output_dir=folder.path,
            notes=_notes(folder),
            sandbox=self._sandbox,
            hosted=self._hosted is not None,
        )

    async def _reserve(self, job: ImageJob, fresh: list[str]) -> None:
        """Hold the estimate of the tasks this call may create against the spend limits, or refuse them all."""
        from runapi_mcp.core.spending import estimate

        if self._spend.limits.any and fresh:
            planned = await estimate(self._client, job.action, job.output_resolution, len(fresh))
            await self._spend.reserve(fresh, planned)

    async def _sources(self, job: ImageJob, row: TaskRow | None, workspace: Workspace) -> tuple[SourceRef, ...]:
        """A retried edit sends the very URLs its first attempt sent: a fresh upload would be a new URL,
        so a different body under the same key, which RunAPI refuses with 409."""
        if job.action != "edit_image":
            return ()
        if row is not None and row.params.sources:
            return row.params.sources
        return await self._resolver.resolve(job.images, workspace)

    async def _create_and_follow(
        self, run: TaskRun, row: TaskRow | None, wait: bool, deadline: float, tracker: ProgressTracker
    ) -> TaskOutcome:
        from runapi_mcp.core.create import Created
        from runapi_mcp.core.follow import pending, unfinished

        created = await self._creator.create(run, row, deadline=deadline if wait else None)
        if not isinstance(created, Created):
            return created
        if wait or created.replayed:
            try:
                outcome = await self._follower.follow(created.run, deadline, tracker, fetch_first=created.replayed)
            except (RunAPIError, CoreError) as exc:
                # The task exists (and may be charged): whatever failed after the create, report it by its id.
                outcome = unfinished(created.run, exc)
        else:
            outcome = pending(created.run)
        return replace(outcome, replayed=created.replayed, note=outcome.note or created.note)

    # ---- continuing a task ------------------------------------------------------------------

    async def get_task(self, task_id: str, *, wait: bool, workspace: Workspace, progress: ProgressFn) -> JobOutcome:
        row = await self._journal.get(task_id)  # any owner's: the one read of this call
        if row is None and (keyed := await self._journal.get_by_key(task_id, owner=self._owner)) is not None:
            if keyed.task_id is None:
                return await self._resume_create(keyed, wait=wait, workspace=workspace, progress=progress)
            row = keyed  # the key of a task whose id is known: follow that task
        if row is not None and row.owner != (self._owner or LOCAL_OWNER):
            # Multi-tenant: another key's task on this server is not this key's to read through us. A task
            # unknown here (say, created through another replica) is asked of RunAPI with this caller's own
            # key, and RunAPI only answers for the account's own tasks.
            raise InputError(f"No task '{task_id}' in your task history. Check the id with list_tasks.")
        done = await self._answered_by_row(row)
        if done is not None and row is not None:
            return JobOutcome(
                tasks=(done,), output_dir=_row_folder(row), sandbox=self._sandbox, hosted=self._hosted is not None
            )
        run = await self._run_for(task_id, row, workspace)
        deadline = self._deadline(wait)
        tracker = ProgressTracker(progress, 1, deadline)
        first_delay = await self._continuation_delay(row)
        outcome = await self._follower.follow(
            run, deadline, tracker, fetch_first=first_delay is None, first_delay=first_delay
        )
        return JobOutcome(
            tasks=(outcome,),
            output_dir=run.folder.path,
            notes=_notes(run.folder),
            sandbox=self._sandbox,
            hosted=self._hosted is not None,
        )

    async def _continuation_delay(self, row: TaskRow | None) -> float | None:
        """None to read at once; else how long to wait first. A task read a moment ago (the end of the last
        call) is not read again before the schedule says, unless a callback has come for it since."""
        if row is None or row.task_id is None or row.status in ("completed", "failed"):
            return None
        if self._config.public_url:
            from runapi_mcp.core.callbacks import woken

            if await woken(self._journal, row):
                return None
        since = time.time() - row.updated_at
        return self._schedule.initial - since if since < self._schedule.initial else None

    async def _resume_create(
        self, row: TaskRow, *, wait: bool, workspace: Workspace, progress: ProgressFn
    ) -> JobOutcome:
        """get_task given the idempotency key of a create that never got an id (cut off, a process killed
        mid-create): the create is sent again under that key, so RunAPI answers with the task it made, or
        makes it once."""
        if row.status not in MAY_EXIST_WITHOUT_ID:
            raise InputError(
                f"RunAPI refused the request with idempotency_key '{row.idempotency_key}', so no task was made "
                "and nothing was charged. Call generate_image or edit_image again."
            )
        saved_in = _row_folder(row)
        folder = OutputFolder(saved_in) if saved_in else await anyio.to_thread.run_sync(self._folder, None, workspace)
        run = TaskRun.from_row(row, folder)
        deadline = self._deadline(wait)
        outcome = await self._create_and_follow(run, row, wait, deadline, ProgressTracker(progress, 1, deadline))
        return JobOutcome(tasks=(outcome,), output_dir=folder.path, notes=_notes(folder), sandbox=self._sandbox)

    async def _answered_by_row(self, row: TaskRow | None) -> TaskOutcome | None:
        """A completed task answered from its row alone. Hosted, the row's URLs and the shared store are enough
        (the files are on no replica's disk); on one machine, only when the saved files are still there."""
        from runapi_mcp.core.saving import files_present, outcome_from_row

        if row is None or row.status != "completed":
            return None
        if self._hosted is not None:
            return await self._hosted.outcome(row)
        return outcome_from_row(row) if await anyio.to_thread.run_sync(files_present, row) else None

    async def _run_for(self, task_id: str, row: TaskRow | None, workspace: Workspace) -> TaskRun:
        """The record of a task to follow: from its journal row, or adopted from RunAPI when this server never
        saw it (created elsewhere), saving into the caller's own workspace."""
        if row is not None:
            saved_in = _row_folder(row)
            if saved_in is not None:
                return TaskRun.from_row(row, OutputFolder(saved_in))
            return TaskRun.from_row(row, await anyio.to_thread.run_sync(self._folder, None, workspace))
        action = await self._probe_action(task_id)
        folder = await anyio.to_thread.run_sync(self._folder, None, workspace)
        key = f"adopted-{task_id}"
        await self._journal.record_intent(
            idempotency_key=key, action=action, params=TaskParams(), output_dir=str(folder.path), owner=self._owner
        )
        await self._journal.attach_task_id(key, task_id, owner=self._owner)
        return TaskRun(action, key, TaskParams(), folder, task_id)

    async def _probe_action(self, task_id: str) -> Action:
        """A task from outside our journal: find which endpoint knows it."""
        for action in ("text_to_image", "edit_image"):
            try:
                await self._client.get_task(action, task_id)
            except NotFoundError:
                continue
            return action
        raise InputError(f"RunAPI knows no task '{task_id}'. Check the id (list_tasks shows recent ones).")

    # ---- reading back -----------------------------------------------------------------------

    async def balance(self) -> Balance:
        return await self._client.balance()

    async def spent_today(self) -> SpendToday:
        return await self._spend.today()

    async def list_tasks(self, *, limit: int, status: TaskState | None) -> list[TaskRow]:
        return await self._journal.recent(limit=limit, status=status, owner=self._owner)

    async def task_entry(self, task_id: str) -> TaskRow | None:
        return await self._journal.get(task_id, owner=self._owner)

    async def image_bytes(self, task_id: str, index: int) -> bytes:
        entry = await self._journal.get(task_id, owner=self._owner)
        if entry is None or not 0 <= index < len(entry.images):
            raise InputError(f"No image {index} for task '{task_id}'. Call get_task to fetch the task first.")
        if self._hosted is not None:
            return await self._hosted.image_bytes(entry, index)
        path, folder = entry.images[index].path, _row_folder(entry)
        if path and folder is not None and Path(path).parent == folder:
            with contextlib.suppress(OSError):  # gone, or its folder swapped for a symlink: not served
                return await anyio.to_thread.run_sync(read_beneath, folder, Path(path))
        raise InputError(f"Image {index} of task '{task_id}' is not saved locally; call get_task to download it.")

    def _deadline(self, wait: bool) -> float:
        return time.monotonic() + (self._wait_seconds if wait else 0.0)

    def _folder(self, requested: str | None, workspace: Workspace) -> OutputFolder:
        return resolve_output_dir(
            requested,
            settings_output_dir=self._config.output_dir,
            working_dir=workspace.working_dir,
            roots=workspace.roots,
            fallback_dir=self._config.fallback_output_dir,
        )


def _request_of(job: ImageJob) -> tuple[str, str | None, str | None, tuple[str, ...]]:
    """The job as `TaskParams.request()` spells it, to compare with a journal row (hashes data: URIs: a thread)."""
    return (job.prompt, job.aspect_ratio, job.output_resolution, tuple(stored_reference(ref) for ref in job.images))


def _row_folder(row: TaskRow) -> Path | None:
    return Path(row.output_dir) if row.output_dir else None


def _notes(folder: OutputFolder) -> tuple[str, ...]:
    return (folder.note,) if folder.note else ()
