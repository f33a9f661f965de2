"""What every store backend provides: :class:`Store`, async at its boundary (re-exported by
:mod:`runwire_server.store`, whose docstring tells the backends apart)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from runwire.auth import Principal
from runwire.records import Status
from runwire_server.store.idempotency import IdempotencyRow
from runwire_server.store.rows import ApiKeyRow, RunRow, WorkflowHead, WorkflowRow
from runwire_server.store.run_lists import HistoryOrdering, RunStatusFilter

if TYPE_CHECKING:
    from runwire_server.store.schema import SchemaUpgrade
    from runwire_server.store.sync import SyncStore

P = ParamSpec("P")
T = TypeVar("T")


class Store(ABC):
    """Workflows, runs and API keys, one awaitable call each. One instance per process.

    A backend gives :attr:`sync` (its synchronous store) and :meth:`_call` (how a call of it is
    made from an event loop); every method here is one such call.
    """

    sync: SyncStore
    """The backend's synchronous store, for callers without an event loop."""
    defers_commits: bool = False
    """Whether hot-path writes can share commits (:meth:`SyncStore.defer_commits`): the API then
    installs its commit barrier, so no reply precedes the commit of what it reports."""

    @abstractmethod
    async def _call(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Make one call of :attr:`sync`, as this backend makes them from an event loop."""

    @abstractmethod
    def inline(self) -> Store:
        """This store with every call made inline (for an event loop that has its thread to itself)."""

    def create_schema(self) -> SchemaUpgrade:
        """Bring the schema to the newest revision, under the migration lock (blocking; see
        :func:`~runwire_server.store.schema.upgrade_schema`)."""
        return self.sync.create_schema()

    def dispose(self) -> None:
        """Commit deferred writes and close every connection (blocking)."""
        self.sync.dispose()

    async def ping(self) -> None:
        """Raise if the database does not answer."""
        await self._call(self.sync.ping)

    async def create_workflow(self, project: int, title: str, data: dict[str, Any]) -> WorkflowRow:
        """Store a new workflow and return it."""
        return await self._call(self.sync.create_workflow, project, title, data)

    async def get_workflow(self, workflow_id: int) -> WorkflowRow | None:
        """The workflow with ``workflow_id``, or ``None``."""
        return await self._call(self.sync.get_workflow, workflow_id)

    async def get_workflow_head(self, workflow_id: int) -> WorkflowHead | None:
        """Id, project and version of a workflow (no data), or ``None``."""
        return await self._call(self.sync.get_workflow_head, workflow_id)

    async def list_workflows(
        self,
        projects: frozenset[int] | None,
        project: int | None = None,
        title: str | None = None,
        offset: int = 0,
        limit: int = 20,
    ) -> tuple[int, list[WorkflowRow]]:
        """Workflows visible to ``projects`` (``None``: all), filtered; returns (count, page)."""
        return await self._call(self.sync.list_workflows, projects, project, title, offset, limit)

    async def update_workflow(
        self, workflow_id: int, title: str | None = None, data: dict[str, Any] | None = None
    ) -> WorkflowRow | None:
        """Change title and/or data; bumps ``version``. ``None`` when there is no such workflow."""
        return await self._call(self.sync.update_workflow, workflow_id, title, data)

    async def delete_workflow(self, workflow_id: int) -> bool:
        """Delete a workflow and its runs; ``False`` when there was none."""
        return await self._call(self.sync.delete_workflow, workflow_id)

    async def ensure_workflow(self, project: int, title: str, data: dict[str, Any]) -> WorkflowRow:
        """The workflow of ``project`` titled ``title`` holding ``data``: reused, updated or created."""
        return await self._call(self.sync.ensure_workflow, project, title, data)

    async def create_run(
        self,
        run_id: str,
        workflow: WorkflowRow | WorkflowHead,
        input_value: Any,
        status: str = Status.IN_QUEUE,
        nodes: dict[str, Any] | None = None,
        total_cost: float = 0.0,
        error: str | None = None,
        claimed_by: str | None = None,
        owner: str | None = None,
    ) -> RunRow:
        """Store a new run of ``workflow``'s current version (see :meth:`.runs.RunMethods.create_run`)."""
        create = self.sync.create_run
        result = (status, nodes, total_cost, error, claimed_by, owner)
        return await self._call(create, run_id, workflow, input_value, *result)

    async def get_run(self, run_id: str) -> RunRow | None:
        """The run with ``run_id``, or ``None``."""
        return await self._call(self.sync.get_run, run_id)

    async def claim_run(self, run_id: str, claimant: str = "") -> RunRow | None:
        """Mark a run ``in progress`` for ``claimant`` (atomic); ``None`` if not claimed.

        See :meth:`SyncStore.claim_run <runwire_server.store.runs.RunMethods.claim_run>`.
        """
        return await self._call(self.sync.claim_run, run_id, claimant)

    async def save_run(
        self,
        run_id: str,
        status: str,
        nodes: dict[str, Any],
        total_cost: float,
        error: str | None = None,
        events: list[Any] | None = None,
    ) -> None:
        """Write a run's status, node results, cost and error in one transaction, with its event
        log when ``events`` is given (``None``: kept as it is)."""
        await self._call(self.sync.save_run, run_id, status, nodes, total_cost, error, events)

    async def cancel_run(self, run_id: str, by: str, end_queued: bool = True) -> RunRow | None:
        """Cancel an unfinished run for ``by``: one ``in queue`` ends ``failed`` now (unless not
        ``end_queued``), one ``in progress`` is marked; ``None`` when there is none or it is
        terminal (see :meth:`SyncStore.cancel_run <runwire_server.store.runs.RunMethods.cancel_run>`)."""
        return await self._call(self.sync.cancel_run, run_id, by, end_queued)

    async def cancel_requests(self, run_ids: Iterable[str]) -> list[tuple[str, str]]:
        """``(run id, cancelled by)`` of each cancelled run among ``run_ids``."""
        return await self._call(self.sync.cancel_requests, run_ids)

    async def ended_runs(self, run_ids: list[str]) -> list[str]:
        """The ids among ``run_ids`` of terminal runs (:mod:`runwire_server.run_endings`)."""
        return await self._call(self.sync.ended_runs, run_ids)

    async def apply_update(self, run_id: str, status: str, nodes: dict[str, Any]) -> bool:
        """Merge a progress payload into a run; ``False`` if none.

        :raises RunFinished: the run is terminal.
        """
        return await self._call(self.sync.apply_update, run_id, status, nodes)

    async def history(
        self,
        workflow_id: int,
        ordering: HistoryOrdering = "-created_at",
        offset: int = 0,
        limit: int = 20,
        owner: str | None = None,
    ) -> tuple[int, list[RunRow]]:
        """One workflow's runs in ``ordering`` (only ``owner``'s, when given); returns (count, page)."""
        return await self._call(self.sync.history, workflow_id, ordering, offset, limit, owner)

    async def list_runs(
        self,
        projects: frozenset[int] | None,
        owner: str | None = None,
        status: RunStatusFilter | None = None,
        doors: Collection[tuple[int, str]] | None = None,
        other_than_doors: bool = False,
        workflow_id: int | None = None,
        offset: int = 0,
        limit: int = 20,
    ) -> tuple[int, list[tuple[RunRow, str]]]:
        """Runs newest first with their workflows' titles, filtered; returns (count, page) (see
        :meth:`SyncStore.list_runs <runwire_server.store.runs.RunMethods.list_runs>`)."""
        filters = (projects, owner, status, doors, other_than_doors, workflow_id, offset, limit)
        return await self._call(self.sync.list_runs, *filters)

    async def unfinished_runs(self) -> list[str]:
        """Ids of runs left ``in queue`` or ``in progress``, oldest first."""
        return await self._call(self.sync.unfinished_runs)

    async def requeue_runs(self, run_ids: Iterable[str]) -> None:
        """Put runs back ``in queue`` with no node results (before enqueueing them again)."""
        await self._call(self.sync.requeue_runs, run_ids)

    async def touch_stale_queued_runs(self, older_than_s: float, limit: int = 1000) -> list[str]:
        """Ids of runs ``in queue`` untouched for ``older_than_s`` seconds, marked touched now."""
        return await self._call(self.sync.touch_stale_queued_runs, older_than_s, limit)

    async def queue_state(self, timeout_s: float) -> tuple[int, int]:
        """``(workers alive, runs in queue)``: workers that heartbeated within ``timeout_s``."""
        return await self._call(self.sync.queue_state, timeout_s)

    async def adopt_claim(self, run_id: str, delivery: str, claimant: str) -> bool:
        """Hand a run claimed for queue message ``delivery`` (by any process) to ``claimant``, the
        same message retried here; ``False`` if it is not so held."""
        return await self._call(self.sync.adopt_claim, run_id, delivery, claimant)

    async def release_orphaned_runs(
        self, timeout_s: float, unowned: bool = False, claim_as: str | None = None, limit: int = 1000
    ) -> list[str]:
        """Put back ``in queue`` the unfinished runs whose owner process is dead; return their ids
        (see :meth:`SyncStore.release_orphaned_runs
        <runwire_server.store.leases.LeaseMethods.release_orphaned_runs>`)."""
        return await self._call(self.sync.release_orphaned_runs, timeout_s, unowned, claim_as, limit)

    async def delete_finished_runs(self, older_than: datetime, limit: int = 500) -> int:
        """Delete at most ``limit`` finished runs last written before ``older_than``, oldest
        first; return how many (unfinished runs are never deleted)."""
        return await self._call(self.sync.delete_finished_runs, older_than, limit)

    async def create_api_key(
        self, projects: Iterable[int], name: str = "", expires_at: datetime | None = None
    ) -> str:
        """Make a random key scoped to ``projects``; store only its hash; return the key."""
        return await self._call(self.sync.create_api_key, projects, name, expires_at)

    async def issue_api_key(
        self, projects: Iterable[int], name: str = "", expires_at: datetime | None = None
    ) -> tuple[str, ApiKeyRow]:
        """As :meth:`create_api_key`, and also return the key's stored record (its id)."""
        return await self._call(self.sync.issue_api_key, projects, name, expires_at)

    async def lookup_api_key(self, key: str) -> Principal | None:
        """The principal of a stored key (``None``: no such key), and note that it was used.

        :raises runwire.errors.AuthRefused: the key is revoked or expired.
        """
        return await self._call(self.sync.lookup_api_key, key)

    async def get_api_key(self, key_id: int) -> ApiKeyRow | None:
        """The stored key with ``key_id``, or ``None``."""
        return await self._call(self.sync.get_api_key, key_id)

    async def list_api_keys(self) -> list[ApiKeyRow]:
        """Every stored key, oldest first (revoked and expired ones included)."""
        return await self._call(self.sync.list_api_keys)

    async def revoke_api_key(self, key_id: int) -> bool:
        """Mark a key revoked now; ``False`` when there is no such key or it was already revoked."""
        return await self._call(self.sync.revoke_api_key, key_id)

    async def claim_idempotency_key(
        self,
        principal: str,
        key: str,
        request_hash: str,
        claimant: str,
        window_s: float,
        lease_timeout_s: float,
    ) -> IdempotencyRow | None:
        """Claim ``key`` for ``principal``'s submit; ``None`` when claimed, else the row holding it
        (see :meth:`SyncStore.claim_idempotency_key
        <runwire_server.store.idempotency.IdempotencyMethods.claim_idempotency_key>`)."""
        claim = self.sync.claim_idempotency_key
        return await self._call(claim, principal, key, request_hash, claimant, window_s, lease_timeout_s)

    async def idempotency_row(self, principal: str, key: str) -> IdempotencyRow | None:
        """The row of ``principal``'s idempotency ``key``, or ``None``."""
        return await self._call(self.sync.idempotency_row, principal, key)

    async def finish_idempotency_key(
        self, principal: str, key: str, claimant: str, status_code: int, content_type: str, reply: bytes
    ) -> bool:
        """Store the answer of the submit that claimed ``key``; ``False`` if its claim is gone."""
        finish = self.sync.finish_idempotency_key
        return await self._call(finish, principal, key, claimant, status_code, content_type, reply)

    async def release_idempotency_key(self, principal: str, key: str, claimant: str) -> None:
        """Give up an unanswered claim of ``key`` (the submit failed): a retry may claim it."""
        await self._call(self.sync.release_idempotency_key, principal, key, claimant)
