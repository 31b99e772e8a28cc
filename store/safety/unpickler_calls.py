"""The calls a pickle makes (REDUCE): only enumerated reconstructors, each with its arguments checked."""

from __future__ import annotations

from typing import Any

import numpy as np

from store.safety.dtypes import _ints
from store.safety.resolution import _ARRAY_CLASSES, _BIT_GENERATORS, _BIT_GENERATOR_CLASSES, _DTYPE_CODE, _RANDOM, _RECONSTRUCTORS, _key
from store.safety.verdicts import Refused, _short

_MAX_DEPTH = 12  # how deep argument checks look into nested tuples and lists
_PLAIN_SCALARS = (bool, int, float, complex, str, bytes, bytearray)
_RECONSTRUCTOR_BASES: tuple[type, ...] = (object, int, float, complex, str, bytes, tuple, list, dict, set, frozenset)
_DEFAULT_FACTORIES: tuple[type, ...] = (list, dict, set, int, float, tuple, str)


class CallChecks:
    """The REDUCE half of the restricted unpickler (``store.safety.unpickler.Restricted``)."""

    def load_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        if type(args) is not tuple:
            raise Refused("calls with arguments that are not a tuple")
        key, kind = self._name(func)
        self._seal_within(args)  # what a call is handed is in use from now on
        self.stack[-1] = self._call(key, kind, func, args)

    def _call(self, key: str, kind: str, func: Any, args: tuple[Any, ...]) -> Any:
        name = key.replace(":", ".")
        if kind == "class":
            raise Refused(f"calls {name}, a class that may only be rebuilt from its state, never called")
        if kind == "function":
            raise Refused(f"calls {name}, which a model may hold as a value but never call while loading")
        if kind in ("data_type", "value_type", "numpy_class"):
            raise Refused(f"calls {name} while loading")
        if kind == "called":
            self._plain(args, name)
            return func(*args)
        if kind == "helper":
            if not args or not isinstance(args[0], type) or self.found.get(id(args[0]), ("", ""))[1] != "class":
                raise Refused(f"calls {name} with something other than an allowed class")
            self._plain(args[1:], name)
            return func(*args)
        return self._reconstruct(_RECONSTRUCTORS[key], name, func, args)

    def _reconstruct(self, how: str, name: str, func: Any, args: tuple[Any, ...]) -> Any:
        if how == "dtype":
            if not (1 <= len(args) <= 3 and isinstance(args[0], str) and _DTYPE_CODE.match(args[0])
                    and all(isinstance(a, bool) for a in args[1:])):
                raise Refused(f"calls {name} with {_short(args)}, not a dtype code")
            made = func(*args)  # a new dtype object: its state may follow, once, before any use
            self.unbuilt[id(made)] = made
            return made
        if how == "ndarray":
            self._array_class(args[0] if args else None, name)
            if len(args) != 3 or not _ints(args[1]) or not isinstance(args[2], (bytes, str)) or len(args[2]) > 2:
                raise Refused(f"calls {name} with {_short(args)}")
            return func(*args)
        if how == "mareconstruct":
            if len(args) != 4:
                raise Refused(f"calls {name} with {_short(args)}")
            self._array_class(args[0], name)
            self._array_class(args[1], name)
            if not _ints(args[2]) or not (isinstance(args[3], (bytes, str)) and len(args[3]) <= 2
                                          or isinstance(args[3], np.dtype)):
                raise Refused(f"calls {name} with {_short(args)}")
            if isinstance(args[3], np.dtype):
                self._seal(args[3])
            return func(*args)
        if how == "scalar":
            if not 1 <= len(args) <= 2 or not isinstance(args[0], np.dtype):
                raise Refused(f"calls {name} with {_short(args)}")
            dtype = self._seal(args[0])
            if not dtype.hasobject:
                if len(args) != 2 or not isinstance(args[1], bytes) or len(args[1]) != dtype.itemsize:
                    raise Refused(f"calls {name} with bytes that do not fit {dtype}")
            return func(*args)
        if how == "frombuffer":
            if len(args) not in (4, 5) or not isinstance(args[0], (bytes, bytearray)) or not isinstance(args[1], np.dtype):
                raise Refused(f"calls {name} with {_short(args)}")
            dtype = self._seal(args[1])
            axes_ok = len(args) == 4 or _ints(args[4])  # NumPy 2 adds the axes order for order "K"
            if dtype.hasobject or not _ints(args[2]) or args[3] not in ("C", "F", "K") or not axes_ok:
                raise Refused(f"calls {name} to make objects from raw bytes")
            return func(*args)
        if how == "bitgen":
            if len(args) > 1 or args and not (isinstance(args[0], str) and args[0] in _BIT_GENERATORS
                                               or self._is(args[0], _BIT_GENERATOR_CLASSES)):
                raise Refused(f"calls {name} with {_short(args)}, not a NumPy bit generator")
            return func(*args)
        if how == "generator":
            if len(args) > 2 or args and not (isinstance(args[0], np.random.BitGenerator)
                                               or isinstance(args[0], str) and args[0] in _BIT_GENERATORS):
                raise Refused(f"calls {name} with {_short(args)}, not a NumPy bit generator")
            if len(args) == 2 and not self._is(args[1], {_key(_RANDOM, "__bit_generator_ctor")}):
                raise Refused(f"calls {name} with a constructor other than NumPy's own")
            return func(*args)
        if how in ("reconstructor", "newobj", "newobj_ex"):
            cls = args[0] if args else None
            if not isinstance(cls, type) or self.found.get(id(cls), ("", ""))[1] != "class":
                raise Refused(f"calls {name} to build {_short(cls)}, which is not an allowed class")
            if how == "reconstructor":
                if len(args) != 3 or args[1] not in _RECONSTRUCTOR_BASES or not issubclass(cls, args[1]):
                    raise Refused(f"calls {name} with {_short(args)}")
                if args[1] is object and args[2] is not None:
                    raise Refused(f"calls {name} with state for object.__new__")
            self._plain(args[1:] if how != "reconstructor" else args[2:], name)
            return func(*args)
        if how == "encode":
            if len(args) != 2 or not isinstance(args[0], str) or args[1] not in ("latin1", "latin-1"):
                raise Refused(f"calls {name} with {_short(args)}")
            return func(*args)
        if how == "iterable":
            if len(args) > 1 or args and type(args[0]) not in (list, tuple):
                raise Refused(f"calls {name} with {_short(args)}")
            return func(*args)
        if how == "plain":
            if len(args) > 3:
                raise Refused(f"calls {name} with {_short(args)}")
            self._plain(args, name)
            return func(*args)
        if how == "ordereddict":
            if len(args) > 1 or args and type(args[0]) not in (list, tuple):
                raise Refused(f"calls {name} with {_short(args)}")
            return func(*args)
        if how == "defaultdict":
            if len(args) > 1 or args and args[0] is not None and args[0] not in _DEFAULT_FACTORIES:
                raise Refused(f"calls {name} with a default factory other than a plain container type")
            return func(*args)
        raise Refused(f"calls {name}")  # pragma: no cover - every table entry has a branch above

    def _is(self, obj: Any, keys: set[str]) -> bool:
        entry = self.found.get(id(obj))
        return entry is not None and entry[2] is obj and entry[0] in keys

    def _array_class(self, cls: Any, name: str) -> None:
        if not (isinstance(cls, type) and self._is(cls, _ARRAY_CLASSES) or cls is np.ndarray):
            raise Refused(f"calls {name} to build {_short(cls)}, which is not a NumPy array class")

    def _plain(self, value: Any, name: str, depth: int = 0) -> None:
        """Arguments a class is called with must be plain data: never a callable."""
        if depth > _MAX_DEPTH:
            raise Refused(f"calls {name} with arguments nested too deeply")
        if value is None or type(value) in _PLAIN_SCALARS:
            return
        if type(value) in (tuple, list):
            for item in value:
                self._plain(item, name, depth + 1)
            return
        if type(value) is dict:
            for k, v in value.items():
                self._plain(k, name, depth + 1)
                self._plain(v, name, depth + 1)
            return
        if isinstance(value, np.dtype):
            self._seal(value)
            return
        if isinstance(value, np.ndarray):
            if self._seal(value.dtype).hasobject:
                raise Refused(f"calls {name} with an array of Python objects")
            return
        if isinstance(value, np.generic) and not isinstance(value, np.object_):
            return
        raise Refused(f"calls {name} with a {type(value).__module__}.{type(value).__qualname__}, not plain data")
