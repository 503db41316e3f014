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
from typing import Any, SupportsIndex, TypeVar

T = TypeVar("T")


def pickled_by_fields(cls: type[T]) -> type[T]:
    """Make instances of the dataclass ``cls`` pickle as ``cls(*field values)``.

    Only for classes whose every field is an ``__init__`` argument, in order, and whose
    ``__init__`` does nothing but store them (no ``__post_init__``): so that unpickling rebuilds
    exactly the value that was pickled.
    """
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if not all(f.init for f in fields) or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: not rebuilt by its constructor alone")
    names = [f.name for f in fields]
    getter = operator.attrgetter(*names)
    values = getter if len(names) > 1 else lambda value: (getter(value),)

    def __reduce_ex__(self: Any, protocol: SupportsIndex) -> str | tuple[Any, ...]:
        if type(self) is not cls:  # a subclass may have fields of its own: pickled the usual way
            return object.__reduce_ex__(self, protocol)
        return cls, values(self)

    # __reduce_ex__ rather than __reduce__: object.__reduce_ex__, the subclasses' way above, would
    # call an overridden __reduce__ and come back here.
    setattr(cls, "__reduce_ex__", __reduce_ex__)  # noqa: B010 - assigning a method of a class made elsewhere
    return cls
