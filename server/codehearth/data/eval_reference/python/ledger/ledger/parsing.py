"""The plain-text journal format: a dated header line, then indented postings.

    2024-03-01 Groceries
        expenses:food        42.10
        assets:bank
"""

from __future__ import annotations

import datetime as dt
import re

from .accounts import Ledger, Transaction
from .money import Money

HEADER = re.compile(r"^(\d{4}-\d{2}-\d{2})\s+(.+)$")
POSTING = re.compile(r"^\s+([a-z]+(?::[\w-]+)*)(?:\s{2,}(-?[\d,]+(?:\.\d{1,2})?))?\s*$")


class JournalError(ValueError):
    def __init__(self, line_number: int, message: str) -> None:
        super().__init__(f"line {line_number}: {message}")
        self.line_number = line_number


def parse_date(text: str, line_number: int) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise JournalError(line_number, f"bad date {text!r}") from None


def _finish(transaction: Transaction, missing: str | None, line_number: int) -> Transaction:
    """Give the one posting without an amount whatever balances the transaction."""
    if missing is not None:
        transaction.add(missing, -transaction.balance())
    try:
        transaction.check()
    except ValueError as exc:
        raise JournalError(line_number, str(exc)) from None
    return transaction


def parse_journal(text: str) -> Ledger:
    ledger = Ledger()
    current: Transaction | None = None
    missing: str | None = None
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith(";"):
            continue
        header = HEADER.match(line)
        if header:
            if current is not None:
                ledger.record(_finish(current, missing, start))
            current = Transaction(parse_date(header.group(1), number), header.group(2).strip())
            missing, start = None, number
            continue
        posting = POSTING.match(line)
        if posting is None or current is None:
            raise JournalError(number, f"cannot read {line.strip()!r}")
        account, amount = posting.group(1), posting.group(2)
        if amount is None:
            if missing is not None:
                raise JournalError(number, "two postings without an amount")
            missing = account
        else:
            current.add(account, Money.parse(amount))
    if current is not None:
        ledger.record(_finish(current, missing, start))
    return ledger


def format_transaction(transaction: Transaction, width: int = 40) -> str:
    lines = [f"{transaction.date.isoformat()} {transaction.description}"]
    for posting in transaction.postings:
        amount = f"{posting.amount.cents / 100:.2f}"
        lines.append(f"    {posting.account.name.ljust(width)}{amount:>12}")
    return "\n".join(lines)
