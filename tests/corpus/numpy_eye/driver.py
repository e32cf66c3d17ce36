"""numpy 2.4.0: `np.eye` leaks its flat-assignment iterator and value array on every call
(numpy/numpy#30508, fixed by #30512, backported in #30513 for 2.4.1). Each iteration builds 200
small complex identity matrices and drops them, as the issue's reproducer does."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import _loop  # noqa: E402

import numpy as np  # noqa: E402


def step(i):
    for _ in range(200):
        m = np.eye(10, dtype=np.complex128)
        del m


_loop.run(step, 15)
