"""A module that misbehaves the ways a Python module can: it loops forever, allocates
without bound, raises, and exits the interpreter."""

import sys

import tanto


@tanto.module(name="hostile")
class Hostile:
    """Misbehaves."""

    @tanto.function
    def spin(self) -> int:
        """Loops without end, never calling the host."""
        counter = 0
        while True:
            counter += 1

    @tanto.function
    def allocate(self, mib: int) -> int:
        """Holds `mib` MiB, one MiB at a time."""
        held = []
        for _ in range(mib):
            held.append(bytearray(1 << 20))
        return len(held)

    @tanto.function
    def boom(self) -> str:
        """Raises an exception the module does not handle."""
        print("about to fail")
        raise RuntimeError("the module raised on purpose")

    @tanto.function
    def exit(self) -> str:
        """Exits the interpreter."""
        sys.exit(3)

    @tanto.function
    def recurse(self, depth: int) -> int:
        """Recurses `depth` times."""
        return 0 if depth <= 0 else 1 + self.recurse(depth - 1)
