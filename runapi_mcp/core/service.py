"""The generation flow: create tasks without ever losing or double-paying one, wait, save the results.

Order of events for every task, so that nothing is lost whatever fails or is cancelled:
1. the intent (idempotency key and parameters) goes to the journal;
2. the create is sent with that key (retries reuse it, so RunAPI makes at most one task);
3. the task id goes to the journal the moment it is known (shielded from cancellation);
4. polling, then downloads, update the journal as they go.
"""

from __future__ import annotations

import logging
import time
import uuid
from functools import partial
from pathlib import Path

import anyio
import httpx2

from runapi_mcp.core import pricing
from runapi_mcp.core.concurrency import gather, gather_settled
from runapi_mcp.core.errors import CoreError, InputError
from runapi_mcp.core.folders import OutputFolder, resolve_output_dir
from runapi_mcp.core.jobs import ImageJob
from runapi_mcp.core.journal import Journal, SourceRef, TaskParams, TaskRow, TaskState, stored_reference
from runapi_mcp.core.progress import ProgressFn, ProgressTracker
from runapi_mcp.core.saving import ResultSaver, files_present, image_record, outcome_from_entry
from runapi_mcp.core.sources import SourceResolver
from runapi_mcp.core.types import Cost, JobOutcome, TaskOutcome, Workspace
from runapi_mcp.core.urlsafety import own_origin
from runapi_mcp.runapi.client import RetryPolicy, RunAPIClient, build_request
from runapi_mcp.runapi.errors import NotFoundError, RunAPIError
from runapi_mcp.runapi.models import Action, Balance, TaskStatus
from runapi_mcp.runapi.polling import PollSchedule, poll_until_done
from runapi_mcp.settings import Settings

log = logging.getLogger(__name__)

class ImageService:
    def __init__(
        self,
        *,
        client: RunAPIClient,
        journal: Journal,
        http: httpx2.AsyncClient,
        settings: Settings,
        sources: SourceResolver,
        owner: str | None = None,
        sandbox: bool = False,
    ) -> None:
        self._client = client
        self._journal = journal
        self._http = http
        self._settings = settings
        self._resolver = sources
        self._owner = owner
        self._sandbox = sandbox
        self._schedule = PollSchedule(initial=settings.poll_initial_seconds, maximum=settings.poll_max_seconds)
        self._saver = ResultSaver(http, settings, allow_hosts=own_origin(settings.base_url), sandbox=sandbox)

    # ---- generate and edit ------------------------------------------------------------------

    async def run(self, job: ImageJob, workspace: Workspace, progress: ProgressFn) -> JobOutcome:
        out_dir = await anyio.to_thread.run_sync(self._output_dir, job.output_dir, workspace)
        deadline = time.monotonic() + (self._settings.wait_seconds if job.wait else 0.0)
        keys = _task_keys(job.idempotency_key, job.count)
        sources: tuple[SourceRef, ...] = ()
        if job.action == "edit_image":
            sources = await self._sources(job, keys[0], workspace)
        tracker = ProgressTracker(progress, len(keys), deadline)
        settled = await gather_settled(
            [partial(self._create_and_follow, job, key, sources, out_dir, deadline, tracker) for key in keys]
        )
        tasks: list[TaskOutcome] = []
        for key, item in zip(keys, settled, strict=True):
            if isinstance(item, TaskOutcome):
                tasks.append(item)
            elif len(keys) == 1 or all(isinstance(other, Exception) for other in settled):
                raise item
            elif isinstance(item, RunAPIError | CoreError):
                # Siblings made tasks: report this one's refusal beside them rather than hide their results.
                tasks.append(TaskOutcome(action=job.action, idempotency_key=key, task_id=None, status="rejected",
                                         error=getattr(item, "message", str(item))))
            else:
                raise item
        return JobOutcome(tasks=tasks, output_dir=out_dir.path, notes=_notes(out_dir), sandbox=self._sandbox)

    async def _sources(self, job: ImageJob, key: str, workspace: Workspace) -> tuple[SourceRef, ...]:
        """A retried edit sends the very URLs its first attempt sent: a fresh upload would be a new URL,
        so a different body under the same key, which RunAPI refuses with 409."""
        existing = await self._journal.get_by_key(key, owner=self._owner)
        if existing is not None and existing.params.sources:  # noqa: SIM102 - the second test hashes: only if needed
            if existing.params.request() == await anyio.to_thread.run_sync(_request_of, job):
                return existing.params.sources
        return await self._resolver.resolve(job.images, workspace)

    async def _create_and_follow(
        self,
        job: ImageJob,
        key: str,
        sources: tuple[SourceRef, ...],
        out_dir: OutputFolder,
        deadline: float,
        tracker: ProgressTracker,
    ) -> TaskOutcome:
        params = TaskParams(
            prompt=job.prompt, aspect_ratio=job.aspect_ratio, output_resolution=job.output_resolution, sources=sources
        )
        existing = await self._journal.get_by_key(key, owner=self._owner)
        if existing is not None and existing.params.request() != await anyio.to_thread.run_sync(_request_of, job):
            raise InputError(
                f"idempotency_key '{key}' was already used for a different request. "
                "Use a new key, or call get_task to follow the earlier task."
            )
        replayed = False
        if existing is not None and existing.task_id:
            task_id = existing.task_id  # known task: follow it instead of asking RunAPI to replay
            replayed = True
        else:
            fields: dict[str, object] = {
                "prompt": job.prompt,
                "aspect_ratio": job.aspect_ratio,
                "output_resolution": job.output_resolution,
            }
            if job.action == "edit_image":
                fields["source_image_urls"] = [source.url for source in sources]
            request = build_request(job.action, **fields)
            if existing is None or existing.status == "rejected":
                await self._journal.record_intent(
                    idempotency_key=key,
                    action=job.action,
                    params=params,
                    output_dir=str(out_dir.path),
                    owner=self._owner,
                )
            try:
                created = await self._client.create_task(job.action, request, idempotency_key=key)
            except RunAPIError as exc:
                return await self._create_failed(job, key, exc)
            task_id = created.id
            replayed = created.task_replayed
            with anyio.CancelScope(shield=True):
                await self._journal.attach_task_id(key, task_id, owner=self._owner)
        if job.wait or replayed:
            outcome = await self._follow(job.action, task_id, key, out_dir, deadline, tracker, fetch_first=replayed)
        else:
            outcome = _pending(job.action, key, task_id)
        outcome.replayed = replayed
        return outcome

    async def _create_failed(self, job: ImageJob, key: str, exc: RunAPIError) -> TaskOutcome:
        if exc.task_id and exc.retryable:
            # RunAPI named the task even though the create failed: it exists, so keep and follow it.
            # (A 409 names the *other* request's task: that one is not ours to adopt.)
            with anyio.CancelScope(shield=True):
                await self._journal.attach_task_id(key, exc.task_id, owner=self._owner)
            return TaskOutcome(
                action=job.action, idempotency_key=key, task_id=exc.task_id, status="unknown",
                error=exc.message, next_action="get_task",
                next_hint=f"call get_task with task_id '{exc.task_id}'",
            )
        if exc.retryable:
            # No answer: the task may exist. The same key replays it without a second charge.
            await self._journal.mark_intent(key, status="unknown", error=exc.message, owner=self._owner)
            tool = "generate_image" if job.action == "text_to_image" else "edit_image"
            return TaskOutcome(
                action=job.action, idempotency_key=key, task_id=None, status="unknown", error=exc.message,
                next_action=tool,
                next_hint=f"call {tool} again with the same arguments and idempotency_key '{_base_key(key)}'; "
                "RunAPI returns the same task and does not charge twice",
            )
        await self._journal.mark_intent(key, status="rejected", error=exc.message, owner=self._owner)
        raise exc

    # ---- following a task -------------------------------------------------------------------

    async def get_task(self, task_id: str, *, wait: bool, workspace: Workspace, progress: ProgressFn) -> JobOutcome:
        entry = await self._journal.get(task_id, owner=self._owner)
        if entry is not None and entry.status == "completed" and await anyio.to_thread.run_sync(files_present, entry):
            return JobOutcome(tasks=[outcome_from_entry(entry)], output_dir=_entry_dir(entry), sandbox=self._sandbox)
        if entry is None and self._owner is not None and await self._journal.get(task_id) is not None:
            # Multi-tenant: another key's task on this server is not this key's to read through us. A task
            # unknown here (say, created through another replica) is asked of RunAPI with this caller's own
            # key, and RunAPI only answers for the account's own tasks.
            raise InputError(f"No task '{task_id}' in your task history. Check the id with list_tasks.")
        action: Action
        if entry is not None:
            action = entry.action
            key = entry.idempotency_key
            out_dir = (
                OutputFolder(Path(entry.output_dir), None)
                if entry.output_dir
                else await anyio.to_thread.run_sync(self._output_dir, None, workspace)
            )
        else:
            action = await self._probe_action(task_id)
            key = f"adopted-{task_id}"
            out_dir = await anyio.to_thread.run_sync(self._output_dir, None, workspace)
            await self._journal.record_intent(
                idempotency_key=key, action=action, params=TaskParams(), output_dir=str(out_dir.path),
                owner=self._owner,
            )
            await self._journal.attach_task_id(key, task_id, owner=self._owner)
        deadline = time.monotonic() + (self._settings.wait_seconds if wait else 0.0)
        tracker = ProgressTracker(progress, 1, deadline)
        outcome = await self._follow(action, task_id, key, out_dir, deadline, tracker, fetch_first=True)
        return JobOutcome(tasks=[outcome], output_dir=out_dir.path, notes=_notes(out_dir), sandbox=self._sandbox)

    async def _probe_action(self, task_id: str) -> Action:
        """A task from outside our journal: find which endpoint knows it."""
        for action in ("text_to_image", "edit_image"):
            try:
                await self._client.get_task(action, task_id)
            except NotFoundError:
                continue
            return action
        raise InputError(f"RunAPI knows no task '{task_id}'. Check the id (list_tasks shows recent ones).")

    async def _follow(
        self,
        action: Action,
        task_id: str,
        key: str,
        out_dir: OutputFolder,
        deadline: float,
        tracker: ProgressTracker,
        *,
        fetch_first: bool,
    ) -> TaskOutcome:
        # The poll loop tolerates transient errors itself; retrying inside one poll would overrun the budget.
        poller = self._client.with_retry(RetryPolicy(max_retries=0))

        async def fetch() -> TaskStatus:
            return await poller.get_task(action, task_id)

        async def on_poll(status: TaskStatus | None, polls: int) -> None:
            await tracker.update(task_id, status)

        result = await poll_until_done(
            fetch, schedule=self._schedule, deadline=deadline, on_poll=on_poll, fetch_first=fetch_first
        )
        status = result.status
        if status is None:
            err = result.last_error
            if err is not None and not err.retryable:
                raise err
            return TaskOutcome(
                action=action, idempotency_key=key, task_id=task_id, status="unknown",
                error=err.message if err else None, next_action="get_task",
                next_hint=f"RunAPI did not answer; call get_task with task_id '{task_id}' in a moment",
            )
        tracker.finish(task_id, status)
        if status.state == "completed":
            return await self._complete(action, status, key, out_dir)
        if status.state == "failed":
            error = status.error or "RunAPI reported the task as failed"
            with anyio.CancelScope(shield=True):
                await self._journal.update(task_id, status="failed", error=error)
            return TaskOutcome(
                action=action, idempotency_key=key, task_id=task_id, status="failed", error=error,
                cost=Cost(0.0, "not billed", "failed generations are not billed"),
            )
        # A status spelling RunAPI's SDKs do not know yet still means "not done": the journal keeps it pending.
        state: TaskState = status.state or "pending"
        with anyio.CancelScope(shield=True):
            await self._journal.update(task_id, status=state)
        return _pending(action, key, task_id, status.state or status.status)

    async def _complete(self, action: Action, status: TaskStatus, key: str, out_dir: OutputFolder) -> TaskOutcome:
        entry = await self._journal.get(status.id)
        params = entry.params if entry else TaskParams()
        cost = await pricing.task_cost(self._client, action, status, params.model_dump())
        images = self._saver.images_of(status)
        await gather([partial(self._saver.save, image, status, params, cost, out_dir) for image in images])
        with anyio.CancelScope(shield=True):
            await self._journal.update(
                status.id, status="completed", images=[image_record(i) for i in images],
                cost_cents=None if cost.usd is None else cost.usd * 100,
            )
        return TaskOutcome(action=action, idempotency_key=key, task_id=status.id, status="completed",
                           images=images, cost=cost)

    # ---- reading back -----------------------------------------------------------------------

    async def balance(self) -> Balance:
        return await self._client.balance()

    async def list_tasks(self, *, limit: int, status: TaskState | None) -> list[TaskRow]:
        return await self._journal.recent(limit=limit, status=status, owner=self._owner)

    async def task_entry(self, task_id: str) -> TaskRow | None:
        return await self._journal.get(task_id, owner=self._owner)

    async def image_bytes(self, task_id: str, index: int) -> bytes:
        entry = await self._journal.get(task_id, owner=self._owner)
        if entry is None or not 0 <= index < len(entry.images):
            raise InputError(f"No image {index} for task '{task_id}'. Call get_task to fetch the task first.")
        path = entry.images[index].path
        if path and await anyio.Path(path).is_file():
            return await anyio.Path(path).read_bytes()
        raise InputError(f"Image {index} of task '{task_id}' is not saved locally; call get_task to download it.")

    def _output_dir(self, requested: str | None, workspace: Workspace) -> OutputFolder:
        return resolve_output_dir(
            requested,
            settings_output_dir=self._settings.output_dir,
            working_dir=workspace.working_dir,
            roots=workspace.roots,
            fallback_dir=self._settings.fallback_output_dir,
        )


def _request_of(job: ImageJob) -> tuple[str, str | None, str | None, tuple[str, ...]]:
    """The job as `TaskParams.request()` spells it, to compare with a journal row (hashes data: URIs: a thread)."""
    return (job.prompt, job.aspect_ratio, job.output_resolution, tuple(stored_reference(ref) for ref in job.images))


def _pending(action: str, key: str, task_id: str, state: str = "pending") -> TaskOutcome:
    return TaskOutcome(
        action=action, idempotency_key=key, task_id=task_id, status=state, next_action="get_task",
        next_hint=f"still processing; call get_task with task_id '{task_id}' and wait=true",
    )


def _task_keys(key: str | None, count: int) -> list[str]:
    base = key or f"runapi-mcp-{uuid.uuid4()}"
    return [base] if count == 1 else [f"{base}#{i + 1}" for i in range(count)]


def _base_key(key: str) -> str:
    return key.rsplit("#", 1)[0] if "#" in key else key


def _entry_dir(entry: TaskRow) -> Path | None:
    return Path(entry.output_dir) if entry.output_dir else None


def _notes(out_dir: OutputFolder) -> list[str]:
    return [out_dir.note] if out_dir.note else []

