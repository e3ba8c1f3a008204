"""The account: a balance, a reservation per task at create, then exactly one settlement or refund."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from runapi_mcp.sandbox.clock import iso

EntryKind = Literal["reservation", "settlement", "refund"]


class InsufficientCredits(Exception):
    pass


@dataclass(frozen=True)
class Entry:
    task_id: str
    kind: EntryKind
    amount_cents: int
    at: float

    def as_json(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "type": self.kind, "amount_cents": self.amount_cents, "at": iso(self.at)}


@dataclass
class _Account:
    reserved: int = 0
    settled: int = 0
    refunded: int = 0
    closed: bool = False


class Ledger:
    def __init__(self, balance_cents: int) -> None:
        self._funded = balance_cents
        self._entries: list[Entry] = []
        self._accounts: dict[str, _Account] = {}

    @property
    def entries(self) -> tuple[Entry, ...]:
        return tuple(self._entries)

    @property
    def outstanding_cents(self) -> int:
        """Reserved for tasks that have neither settled nor been refunded yet."""
        return sum(a.reserved for a in self._accounts.values() if not a.closed)

    @property
    def settled_cents(self) -> int:
        return sum(a.settled for a in self._accounts.values())

    @property
    def refunded_cents(self) -> int:
        return sum(a.refunded for a in self._accounts.values())

    @property
    def reserved_cents(self) -> int:
        return sum(a.reserved for a in self._accounts.values())

    @property
    def balance_cents(self) -> int:
        """What is left to spend: funding less settled charges and open reservations."""
        return self._funded - self.settled_cents - self.outstanding_cents

    @property
    def funded_cents(self) -> int:
        return self._funded

    def restore(self, funded_cents: int) -> None:
        """The funding saved before a restart (the starting balance and every top-up since)."""
        self._funded = funded_cents

    def restore_reservation(self, task_id: str, cents: int, at: float) -> None:
        """A reservation made before a restart: checked against the balance then, so not again now."""
        self._accounts[task_id] = _Account(reserved=cents)
        self._entries.append(Entry(task_id, "reservation", cents, at))

    def set_balance(self, cents: int) -> None:
        self._funded = cents + self.settled_cents + self.outstanding_cents

    def reserve(self, task_id: str, cents: int, at: float) -> None:
        if task_id in self._accounts:
            raise RuntimeError(f"task {task_id} already has a reservation")
        if cents > self.balance_cents:
            raise InsufficientCredits
        self._accounts[task_id] = _Account(reserved=cents)
        self._entries.append(Entry(task_id, "reservation", cents, at))

    def settle(self, task_id: str, at: float) -> int:
        account = self._open(task_id)
        account.settled = account.reserved
        account.closed = True
        self._entries.append(Entry(task_id, "settlement", account.settled, at))
        return account.settled

    def refund(self, task_id: str, at: float) -> int:
        account = self._open(task_id)
        account.refunded = account.reserved
        account.closed = True
        self._entries.append(Entry(task_id, "refund", account.refunded, at))
        return account.refunded

    def settled_since(self, since: float) -> int:
        return sum(e.amount_cents for e in self._entries if e.kind == "settlement" and e.at >= since)

    def charged_cents(self, task_id: str) -> int:
        account = self._accounts.get(task_id)
        return account.settled if account else 0

    def _open(self, task_id: str) -> _Account:
        account = self._accounts[task_id]
        # A task is closed once; a second settle or refund would be the double charge the sandbox exists to catch.
        if account.closed:
            raise RuntimeError(f"task {task_id} is already closed")
        return account

    def totals(self) -> dict[str, int]:
        return {
            "funded_cents": self._funded,
            "balance_cents": self.balance_cents,
            "reserved_cents": self.reserved_cents,
            "outstanding_cents": self.outstanding_cents,
            "charged_cents": self.settled_cents,
            "refunded_cents": self.refunded_cents,
        }
