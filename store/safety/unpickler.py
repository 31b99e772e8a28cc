"""The restricted unpickler: joblib's own, checking every import, call and state while it loads.

Imported on first use (it loads NumPy and joblib); ``store.safety.loader`` says what it allows and why.
"""

from __future__ import annotations

import _compat_pickle
import pickle
from typing import Any

import numpy as np
from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler
from joblib.numpy_pickle_utils import _ensure_native_byte_order

from store.safety.dtypes import _check_dtype, _check_dtype_state, _ints
from store.safety.native_state import _check_native_state, _refuse_dunders
from store.safety.resolution import _NOT_BUILT_HERE, _SCIPY_STATS, _key, _kind_of, _resolve
from store.safety.unpickler_calls import CallChecks
from store.safety.verdicts import Refused, _short

_LEAVES = frozenset({bool, int, float, complex, str, bytes, type(None)})  # hold nothing: not walked
_IMMUTABLE_BASES = (int, float, complex, str, bytes, tuple, frozenset)
_WRAPPER_FIELDS = {"subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes"}


class Restricted(CallChecks, NumpyUnpickler):
    """joblib's unpickler, checking every import, call, state and container fill as it loads."""

    dispatch = NumpyUnpickler.dispatch.copy()

    def __init__(self, file_handle: Any, *, imports: list[str] | None = None, parent: Any = None) -> None:
        super().__init__("", file_handle, True)
        self.imports = imports if imports is not None else []
        # Objects find_class handed out (by id; they are module globals, alive throughout).
        self.found: dict[int, tuple[str, str, Any]] = parent.found if parent else {}
        self.unbuilt: dict[int, Any] = parent.unbuilt if parent else {}  # dtypes whose state may still be set
        self.sealed: dict[int, Any] = parent.sealed if parent else {}
        self.used: dict[int, Any] = parent.used if parent else {}  # arrays other objects hold
        self.built: dict[int, Any] = parent.built if parent else {}  # objects whose state was set

    # -- imports --

    def find_class(self, module: str, name: str) -> Any:
        if self.proto < 3 and self.fix_imports:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        key = _key(module, name)
        if f"{module}.{name}" not in self.imports:
            self.imports.append(f"{module}.{name}")
        kind = _kind_of(key)
        if kind is None and module == "numpy" and isinstance(getattr(np, name, None), np.ufunc):
            kind = "function"  # a ufunc kept as a value (FunctionTransformer(func=np.log1p)), never called
        if kind is None:
            if _SCIPY_STATS.match(module):
                raise Refused(f"imports {module}.{name}: scipy.stats distributions run code stored in the file while "
                              "unpickling, so they are never loaded without trust")
            raise Refused(f"imports {module}.{name}, which is not on the allow-list of what a model may contain")
        obj = _resolve(module, name)
        if kind in ("class", "numpy_class", "called", "value_type") and not isinstance(obj, type):
            raise Refused(f"imports {module}.{name}, which is listed as a class but is not one here")
        if kind in ("reconstructor", "helper", "function") and (isinstance(obj, type) and kind != "reconstructor"
                                                               or not callable(obj)):
            raise Refused(f"imports {module}.{name}, which is listed as a function but is not one here")
        self.found[id(obj)] = (key, kind, obj)
        return obj

    def _name(self, obj: Any) -> tuple[str, str]:
        entry = self.found.get(id(obj))
        if entry is None or entry[2] is not obj:
            raise Refused(f"calls a {type(obj).__name__} object that is not a listed reconstructor")
        return entry[0], entry[1]

    # -- dtypes --

    def _seal(self, dtype: Any) -> Any:
        """A dtype about to be used: check it and forbid any later change of its state."""
        if id(dtype) in self.sealed:
            return dtype
        self.unbuilt.pop(id(dtype), None)
        _check_dtype(np, dtype)
        self.sealed[id(dtype)] = dtype
        return dtype

    def _seal_within(self, value: Any) -> None:
        """Everything ``value`` holds is now in use: its dtypes are sealed and its arrays may
        never be rebuilt (compiled code checked, or will trust, what they hold now)."""
        seen: set[int] = set()
        todo = [value]
        while todo:
            item = todo.pop()
            if type(item) in _LEAVES or id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, np.dtype):
                self._seal(item)
            elif isinstance(item, np.ndarray):
                self.used[id(item)] = item
                self._seal(item.dtype)
                if item.dtype.hasobject:
                    todo.extend(item.flat)
            elif isinstance(item, (tuple, list, set, frozenset)):
                if not isinstance(item, (tuple, frozenset)):
                    self.used[id(item)] = item  # a container others hold may not grow after their checks
                todo.extend(item)
            elif isinstance(item, dict):
                self.used[id(item)] = item
                todo.extend(item.keys())
                todo.extend(item.values())

    def _build_dtype(self, dtype: Any, state: Any) -> None:
        if id(dtype) not in self.unbuilt:
            raise Refused("sets the state of a dtype already in use")
        if type(state) is not tuple or len(state) not in (8, 9) or state[0] not in (3, 4):
            raise Refused(f"sets a dtype's state to {_short(state)}")
        _check_dtype_state(np, dtype, state)
        subarray, fields = state[2], state[4]
        for part in ([subarray[0]] if isinstance(subarray, tuple) and subarray else []) + \
                [f[0] for f in (fields or {}).values() if isinstance(f, tuple) and f]:
            if not isinstance(part, np.dtype):
                raise Refused(f"builds a dtype from a field that is a {_short(part)}, not a dtype")
            self._seal(part)
        self.unbuilt.pop(id(dtype))
        dtype.__setstate__(state)
        self._seal(dtype)

    # -- state --

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if id(inst) in self.found or isinstance(inst, _NOT_BUILT_HERE) or isinstance(inst, np.ufunc):
            raise Refused(f"sets state on {_short(inst)}, which this file did not build")
        if isinstance(inst, np.dtype):
            self._build_dtype(inst, state)
            return
        _refuse_dunders(state)
        if id(inst) in self.built:  # pickling sets an object's state once; a second time rewrites checked state
            raise Refused(f"sets the state of a {_short(inst)} twice")
        if id(inst) in self.used:
            raise Refused("sets the state of an array after another object took it in")
        self.built[id(inst)] = inst
        self._seal_within(state)
        if type(inst) is NumpyArrayWrapper:
            self.stack[-1] = self._read_array(inst, state)
            return
        setstate = getattr(type(inst), "__setstate__", None)  # the class's own, never the instance's
        if setstate is not None:
            setstate(inst, state)
            _check_native_state(np, inst)
            return
        slotstate = None
        if type(state) is tuple and len(state) == 2:
            state, slotstate = state
        if state:
            if type(state) is not dict:
                raise Refused(f"sets state {_short(state)} on {_short(inst)}")
            inst.__dict__.update(state)
        if slotstate:
            if type(slotstate) is not dict:
                raise Refused(f"sets slot state {_short(slotstate)} on {_short(inst)}")
            for k, v in slotstate.items():
                setattr(inst, k, v)
        _check_native_state(np, inst)

    def _read_array(self, wrapper: Any, state: Any) -> Any:
        if type(state) is not dict or not set(state) <= _WRAPPER_FIELDS or not {"subclass", "shape", "order", "dtype"} <= set(state):
            raise Refused(f"builds a joblib array from {_short(state)}")
        self._array_class(state["subclass"], "joblib's array reader")
        dtype = state["dtype"]
        if not isinstance(dtype, np.dtype) or not _ints(state["shape"]) or state["order"] not in ("C", "F"):
            raise Refused(f"builds a joblib array from {_short(state)}")
        if not isinstance(state.get("allow_mmap", False), bool) or not (
                state.get("numpy_array_alignment_bytes") is None or type(state["numpy_array_alignment_bytes"]) is int):
            raise Refused(f"builds a joblib array from {_short(state)}")
        self._seal(dtype)
        wrapper.__dict__.update(state)
        if dtype.hasobject:  # joblib nests a pickle here; it is loaded by this same restricted loader
            array = type(self)(self.file_handle, imports=self.imports, parent=self).load()
            if not isinstance(array, np.ndarray):
                raise Refused("puts something other than an array where joblib expects one")
            return _ensure_native_byte_order(array)
        return wrapper.read(self, self.ensure_native_byte_order)  # joblib's own framing

    # -- containers: only the kinds pickling fills --

    def _fill(self, target: Any, kind: type, verb: str) -> None:
        if not isinstance(target, kind):
            raise Refused(f"{verb} {_short(target)}, which is not a {kind.__name__}")
        if id(target) in self.used:
            raise Refused(f"{verb} a {kind.__name__} after another object took it in (and was checked)")

    def load_append(self) -> None:
        self._fill(self.stack[-2], list, "appends to")
        super().load_append()

    def load_appends(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        self._fill(target, list, "appends to")
        target.extend(items)

    def load_setitem(self) -> None:
        self._fill(self.stack[-3], dict, "sets items on")
        super().load_setitem()

    def load_setitems(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        self._fill(target, dict, "sets items on")
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def load_additems(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        self._fill(target, set, "adds items to")
        target.update(items)

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args, {}))

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args, kwargs))

    def _new(self, cls: Any, args: Any, kwargs: Any) -> Any:
        if not isinstance(cls, type):
            raise Refused(f"builds an instance of {_short(cls)}, which is not a class")
        key, kind = self._name(cls)
        if kind not in ("class", "data_type"):
            raise Refused(f"builds {key.replace(':', '.')} by __new__, which is not allowed for it")
        if type(args) is not tuple or type(kwargs) is not dict:
            raise Refused(f"builds {key.replace(':', '.')} from {_short(args)}")
        if (args or kwargs) and not issubclass(cls, _IMMUTABLE_BASES):  # __new__ of others takes no state
            raise Refused(f"builds {key.replace(':', '.')} by __new__ with arguments {_short(args)}")
        self._plain(args, key.replace(":", "."))
        self._plain(kwargs, key.replace(":", "."))
        return cls.__new__(cls, *args, **kwargs)

    def _instantiate(self, klass: Any, args: list[Any]) -> None:  # INST and OBJ (protocols 0 and 1)
        if args:
            raise Refused(f"calls {_short(klass)} with arguments (INST/OBJ)")
        self.append(self._new(klass, (), {}))

    def persistent_load(self, pid: Any) -> Any:
        raise Refused("asks for an object outside the file (persistent id)")

    dispatch[pickle.REDUCE[0]] = CallChecks.load_reduce
    dispatch[pickle.BUILD[0]] = load_build
    dispatch[pickle.APPEND[0]] = load_append
    dispatch[pickle.APPENDS[0]] = load_appends
    dispatch[pickle.SETITEM[0]] = load_setitem
    dispatch[pickle.SETITEMS[0]] = load_setitems
    dispatch[pickle.ADDITEMS[0]] = load_additems
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
