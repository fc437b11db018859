"""SplitMix64, bit for bit the Rust ``rng`` module: the queue's item values and the server's
item documents are made from it, so the tests can compute every expected digest themselves.
"""

MASK = 0xFFFF_FFFF_FFFF_FFFF


def mix(z: int) -> int:
    """The SplitMix64 finaliser, with the u64 wrap-around Python's integers do not have."""
    z &= MASK
    z = ((z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D0_49BB_1331_11EB) & MASK
    return z ^ (z >> 31)


class SplitMix64:
    def __init__(self, seed: int) -> None:
        self.state = seed & MASK

    @classmethod
    def for_item(cls, seed: int, index: int) -> "SplitMix64":
        return cls(mix(seed ^ mix((index + 0x5851_F42D_4C95_7F2D) & MASK)))

    def next_u64(self) -> int:
        self.state = (self.state + 0x9E37_79B9_7F4A_7C15) & MASK
        return mix(self.state)

    def next_f64(self) -> float:
        return (self.next_u64() >> 11) * (1.0 / (1 << 53))

    def below(self, n: int) -> int:
        return self.next_u64() % n
