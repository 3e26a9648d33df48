"""Accounts, transactions that must balance, and the ledger that holds them."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from .money import Money, total

KINDS = ("assets", "liabilities", "income", "expenses", "equity")


class UnbalancedTransaction(ValueError):
    """The postings of a transaction do not add up to zero."""


@dataclass(frozen=True)
class Account:
    name: str

    @property
    def kind(self) -> str:
        return self.name.split(":", 1)[0]

    @property
    def parent(self) -> Account | None:
        if ":" not in self.name:
            return None
        return Account(self.name.rsplit(":", 1)[0])

    def is_under(self, other: Account) -> bool:
        return self.name == other.name or self.name.startswith(other.name + ":")


@dataclass(frozen=True)
class Posting:
    account: Account
    amount: Money


@dataclass
class Transaction:
    date: dt.date
    description: str
    postings: list[Posting] = field(default_factory=list)

    def add(self, account: str, amount: Money) -> Transaction:
        self.postings.append(Posting(Account(account), amount))
        return self

    def balance(self) -> Money:
        currency = self.postings[0].amount.currency if self.postings else "EUR"
        return total([p.amount for p in self.postings], currency)

    def check(self) -> None:
        if len(self.postings) < 2:
            raise UnbalancedTransaction(f"{self.description}: needs at least two postings")
        left = self.balance()
        if not left.is_zero():
            raise UnbalancedTransaction(f"{self.description}: off by {left.format()}")


@dataclass
class Ledger:
    transactions: list[Transaction] = field(default_factory=list)

    def record(self, transaction: Transaction) -> None:
        transaction.check()
        for posting in transaction.postings:
            if posting.account.kind not in KINDS:
                raise ValueError(f"unknown account kind: {posting.account.name}")
        self.transactions.append(transaction)

    def accounts(self) -> list[Account]:
        seen = {p.account for t in self.transactions for p in t.postings}
        return sorted(seen, key=lambda account: account.name)

    def balances(self, until: dt.date | None = None) -> dict[Account, Money]:
        sums: dict[Account, list[Money]] = defaultdict(list)
        for transaction in self.transactions:
            if until is not None and transaction.date > until:
                continue
            for posting in transaction.postings:
                sums[posting.account].append(posting.amount)
        return {account: total(amounts) for account, amounts in sums.items()}

    def balance_of(self, account: str, until: dt.date | None = None) -> Money:
        """The balance of an account and all its sub-accounts."""
        wanted = Account(account)
        found = [amount for acct, amount in self.balances(until).items() if acct.is_under(wanted)]
        return total(found)

    def between(self, start: dt.date, end: dt.date) -> list[Transaction]:
        return [t for t in self.transactions if start <= t.date <= end]
