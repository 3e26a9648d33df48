def fizzbuzz(n: int) -> str:
    """Return "Fizz", "Buzz", "FizzBuzz" or the number itself."""
    if n % 15 == 0:
        return "FizzBuzz"
    if n % 3 == 0:
        return "Fizz"
    if n % 5 == 0:
        return "Buzz"
    return str(n)


def main() -> None:
    for i in range(1, 101):
        print(
