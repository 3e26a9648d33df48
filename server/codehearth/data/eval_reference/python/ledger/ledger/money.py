"""Money amounts kept as integer cents so that sums never drift."""

from __future__ import annotations

from dataclasses import dataclass

CURRENCIES = {"EUR": "€", "USD": "$", "GBP": "£", "CHF": "CHF "}


class CurrencyMismatch(ValueError):
    """Two amounts in different currencies were combined."""


@dataclass(frozen=True, order=True)
class Money:
    cents: int
    currency: str = "EUR"

    @classmethod
    def parse(cls, text: str, currency: str = "EUR") -> Money:
        """'12.34' or '-5' or '1,234.50' to Money; raises ValueError on bad input."""
        cleaned = text.strip().replace(",", "")
        if not cleaned:
            raise ValueError("empty amount")
        negative = cleaned.startswith("-")
        if negative:
            cleaned = cleaned[1:]
        whole, _, fraction = cleaned.partition(".")
        if not whole.isdigit() or (fraction and not fraction.isdigit()):
            raise ValueError(f"not an amount: {text!r}")
        if len(fraction) > 2:
            raise ValueError(f"more than two decimals: {text!r}")
        cents = int(whole) * 100 + int(fraction.ljust(2, "0") or 0)
        return cls(-cents if negative else cents, currency)

    def _check(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(f"{self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.cents + other.cents, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.cents - other.cents, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.cents, self.currency)

    def times(self, factor: float) -> Money:
        """Scaled and rounded half away from zero, as accountants round."""
        scaled = self.cents * factor
        rounded = int(abs(scaled) + 0.5)
        return Money(rounded if scaled >= 0 else -rounded, self.currency)

    def split(self, parts: int) -> list[Money]:
        """Split into `parts` amounts that differ by at most one cent and add up exactly."""
        if parts <= 0:
            raise ValueError("parts must be positive")
        base, remainder = divmod(self.cents, parts)
        return [Money(base + (1 if i < remainder else 0), self.currency) for i in range(parts)]

    def is_zero(self) -> bool:
        return self.cents == 0

    def format(self) -> str:
        sign = "-" if self.cents < 0 else ""
        whole, cents = divmod(abs(self.cents), 100)
        symbol = CURRENCIES.get(self.currency, self.currency + " ")
        return f"{sign}{symbol}{whole:,}.{cents:02d}"


def total(amounts: list[Money], currency: str = "EUR") -> Money:
    result = Money(0, currency)
    for amount in amounts:
        result = result + amount
    return result
