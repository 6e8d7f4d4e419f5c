"""Which stages a ``forward_intermediates(indices=...)`` call takes (timm's convention)."""
from typing import List, Sequence, Union


def take_indices(num_stages: int, indices: Union[None, int, Sequence[int]]) -> List[int]:
    """Stage indices in ``[0, num_stages)`` for ``indices``: None takes every stage, an int n
    the last n, a sequence those stages (negative counts from the end), as timm reads them."""
    n = num_stages
    if indices is None:
        indices = n
    if isinstance(indices, int):
        if not 0 < indices <= n:
            raise ValueError(f'indices={indices} asks for the last {indices} stages of {n}; '
                             f'an int must lie in [1, {n}]')
        return list(range(n - indices, n))
    take = []
    for i in indices:
        if not -n <= i < n:
            raise ValueError(f'stage index {i} is out of range for {n} stages ([-{n}, {n}))')
        take.append(i % n)
    if not take:
        raise ValueError('indices is empty: name at least one stage')
    return take
