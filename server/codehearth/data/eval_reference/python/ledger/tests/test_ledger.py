import datetime as dt

import pytest
from ledger.accounts import Account, Ledger, Transaction, UnbalancedTransaction
from ledger.money import CurrencyMismatch, Money, total
from ledger.parsing import JournalError, format_transaction, parse_journal
from ledger.report import balance_sheet, biggest_expenses, monthly_spending, render_table

JOURNAL = """\
2024-03-01 Salary
    assets:bank          2500.00
    income:salary

2024-03-02 Groceries
    expenses:food          42.10
    assets:bank

; a comment line
2024-04-05 Rent
    expenses:housing      900
    assets:bank
"""


def test_parse_amounts():
    assert Money.parse("12.34").cents == 1234
    assert Money.parse("-5").cents == -500
    assert Money.parse("1,234.5").cents == 123450
    with pytest.raises(ValueError):
        Money.parse("1.234")
    with pytest.raises(ValueError):
        Money.parse("abc")


def test_arithmetic_and_format():
    a, b = Money(1050), Money(-250)
    assert (a + b).cents == 800
    assert (a - b).format() == "€13.00"
    assert (-a).format() == "-€10.50"
    assert Money(123456789, "USD").format() == "$1,234,567.89"
    with pytest.raises(CurrencyMismatch):
        a + Money(1, "USD")


def test_times_and_split():
    assert Money(100).times(0.333).cents == 33
    assert Money(-5).times(0.5).cents == -3
    parts = Money(1000).split(3)
    assert [p.cents for p in parts] == [334, 333, 333]
    assert total(parts).cents == 1000


def test_accounts():
    food = Account("expenses:food:restaurants")
    assert food.kind == "expenses"
    assert food.parent == Account("expenses:food")
    assert food.is_under(Account("expenses"))
    assert not Account("expenses:foodstuff").is_under(Account("expenses:food"))


def test_transactions_must_balance():
    t = Transaction(dt.date(2024, 1, 1), "bad").add("assets:bank", Money(100))
    t.add("expenses:misc", Money(-90))
    with pytest.raises(UnbalancedTransaction):
        t.check()
    with pytest.raises(UnbalancedTransaction):
        Ledger().record(t)


def test_parse_journal_and_balances():
    ledger = parse_journal(JOURNAL)
    assert len(ledger.transactions) == 3
    assert ledger.balance_of("assets").format() == "€1,557.90"
    assert ledger.balance_of("expenses", until=dt.date(2024, 3, 31)).cents == 4210
    assert ledger.accounts()[0].name == "assets:bank"


def test_journal_errors():
    with pytest.raises(JournalError, match="line 1"):
        parse_journal("2024-13-01 Bad date\n    assets:bank  1\n    income:x\n")
    with pytest.raises(JournalError, match="two postings"):
        parse_journal("2024-01-01 X\n    assets:a\n    income:b\n")


def test_reports():
    ledger = parse_journal(JOURNAL)
    rows = balance_sheet(ledger)
    assert rows[0] == ("assets", "€1,557.90")
    assert ("  food", "€42.10") in rows
    assert monthly_spending(ledger) == {"2024-03": Money(4210), "2024-04": Money(90000)}
    assert biggest_expenses(ledger, 1) == [("Rent", Money(90000))]
    assert "assets" in render_table(rows)
    assert render_table([]) == "(no balances)"


def test_format_transaction():
    ledger = parse_journal(JOURNAL)
    text = format_transaction(ledger.transactions[1], width=20)
    assert text.splitlines()[0] == "2024-03-02 Groceries"
    assert text.splitlines()[1].endswith("42.10")
