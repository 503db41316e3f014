"""Values that travel between the daemon and its parser workers, pickled as constructor calls.

A slotted dataclass pickles through the ``__getstate__``/``__setstate__`` pair that ``dataclasses``
writes in Python: each call runs ``fields()`` and a loop, for every Email, Address and Attachment.
On the backlog benchmark's batches that was over half of the time to pickle a worker's results and
over half of the time to unpickle them in the daemon. ``(cls, field values)`` is read by the
C pickler at C speed and rebuilt by the class's own ``__init__``.
"""

from __future__ import annotations

import dataclasses
import operator
from typing import Any, TypeVar

T = TypeVar("T")


def pickled_by_fields(cls: type[T]) -> type[T]:
    """Make instances of the dataclass ``cls`` pickle as ``cls(*field values)``.

    Only for classes whose every field is an ``__init__`` argument, in order, and whose
    ``__init__`` does nothing but store them (no ``__post_init__``): so that unpickling rebuilds
    exactly the value that was pickled. Not for classes that are subclassed: an instance of a
    subclass would come back as ``cls``.
    """
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if not all(f.init for f in fields) or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: not rebuilt by its constructor alone")
    names = [f.name for f in fields]
    values = operator.attrgetter(*names)
    if len(names) == 1:

        def __reduce__(self: Any) -> tuple[type[T], tuple[Any, ...]]:
            return cls, (values(self),)

    else:

        def __reduce__(self: Any) -> tuple[type[T], tuple[Any, ...]]:
            return cls, values(self)

    setattr(cls, "__reduce__", __reduce__)  # noqa: B010 - assigning a method of a class made elsewhere
    return cls
