"""Reports over a ledger: a balance sheet and monthly spending."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from .accounts import Account, Ledger
from .money import Money, total


def balance_sheet(ledger: Ledger, until: dt.date | None = None) -> list[tuple[str, str]]:
    """(account, formatted balance) rows, parents before children, zero rows left out."""
    balances = ledger.balances(until)
    names: set[str] = set()
    for account in balances:
        current: Account | None = account
        while current is not None:
            names.add(current.name)
            current = current.parent
    rows = []
    for name in sorted(names):
        amount = ledger.balance_of(name, until)
        if not amount.is_zero():
            depth = name.count(":")
            rows.append(("  " * depth + name.rsplit(":", 1)[-1], amount.format()))
    return rows


def monthly_spending(ledger: Ledger, kind: str = "expenses") -> dict[str, Money]:
    """Total per calendar month ('2024-03') of the postings to one kind of account."""
    months: dict[str, list[Money]] = defaultdict(list)
    for transaction in ledger.transactions:
        month = transaction.date.strftime("%Y-%m")
        for posting in transaction.postings:
            if posting.account.kind == kind:
                months[month].append(posting.amount)
    return {month: total(amounts) for month, amounts in sorted(months.items())}


def biggest_expenses(ledger: Ledger, count: int = 3) -> list[tuple[str, Money]]:
    expenses = [
        (transaction.description, posting.amount)
        for transaction in ledger.transactions
        for posting in transaction.postings
        if posting.account.kind == "expenses"
    ]
    expenses.sort(key=lambda item: item[1], reverse=True)
    return expenses[:count]


def render_table(rows: list[tuple[str, str]]) -> str:
    if not rows:
        return "(no balances)"
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {amount:>14}" for name, amount in rows)
