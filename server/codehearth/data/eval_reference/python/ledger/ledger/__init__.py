"""A tiny double-entry ledger: money amounts, accounts, a text format and reports."""

from .accounts import Account, Ledger, Posting, Transaction
from .money import Money

__all__ = ["Account", "Ledger", "Money", "Posting", "Transaction"]
