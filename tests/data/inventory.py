"""A small inventory module used as a realistic completion target in tests."""

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Item:
    name: str
    quantity: int = 0
    tags: list[str] = field(default_factory=list)

    def total_price(self, unit_price: float) -> float:
        return self.quantity * unit_price


class Inventory:
    def __init__(self) -> None:
        self.items: dict[str, Item] = {}

    def add(self, item: Item) -> None:
        if item.name in self.items:
            self.items[item.name].quantity += item.quantity
        else:
            self.items[item.name] = item

    def remove(self, name: str) -> Item | None:
        return self.items.pop(name, None)

    def save(self, path: Path) -> None:
        data = {name: item.quantity for name, item in self.items.items()}
        path.write_text(json.dumps(data))

    def load(self, path: Path) -> None:
        data = json.loads(path.read_text())
        for name, quantity in data.items():
            
    def count(self) -> int:
        return sum(item.quantity for item in self.items.values())


def main() -> None:
    inventory = Inventory()
    inventory.add(Item("apple", 3))
    print(inventory.count())
