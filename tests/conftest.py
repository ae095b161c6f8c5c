"""Fixtures shared by several test files."""
import numpy as np
import pytest

from minigraphrec import Interactions


@pytest.fixture
def checkerboard():
    """Two blocks of 4 users × 4 items; users take only their own block's items, and user u
    misses one in-block item (the one a good model must rank first).

    Returns (train Interactions, held-out item per user).
    """
    n_blocks, users_per_block, items_per_block = 2, 4, 4
    users, items, held = [], [], []
    for b in range(n_blocks):
        for j in range(users_per_block):
            u = b * users_per_block + j
            miss = b * items_per_block + j % items_per_block
            held.append(miss)
            for i in range(b * items_per_block, (b + 1) * items_per_block):
                if i != miss:
                    users.append(u)
                    items.append(i)
    n_users, n_items = n_blocks * users_per_block, n_blocks * items_per_block
    return Interactions(users, items, n_users=n_users, n_items=n_items), np.array(held)
