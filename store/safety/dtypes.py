"""NumPy dtype checks: a dtype's state and flags must be what NumPy computes, so raw bytes never
become object pointers.
"""

from __future__ import annotations

from typing import Any

from store.safety.verdicts import Refused, _one_line, _short


def _check_dtype_state(np: Any, dtype: Any, state: tuple[Any, ...]) -> None:
    """What ``dtype.__setstate__`` may be handed: NumPy trusts it, and a wrong one crashes it."""
    _, order, subarray, names, fields, elsize, alignment, flags = state[:8]
    metadata = state[8] if len(state) == 9 else None
    if order not in ("<", ">", "|", "=") or type(elsize) is not int or type(alignment) is not int or type(flags) is not int:
        raise Refused(f"sets a dtype's state to {_short(state)}")
    if dtype.kind != "V":  # a builtin kind: only byte order and a datetime's unit may come from the file
        if subarray is not None or names is not None or fields is not None:
            raise Refused("gives fields to a dtype that cannot have them")
        if dtype.kind in "mM":
            unit = metadata[1] if type(metadata) is tuple and len(metadata) == 2 else None
            if not (type(unit) is tuple and len(unit) == 4 and type(unit[0]) is bytes and len(unit[0]) <= 3
                    and all(type(u) is int and 0 <= u < 1 << 31 for u in unit[1:])):
                raise Refused("sets a datetime dtype's state without a valid unit")
        elif metadata is not None:
            raise Refused("sets metadata on a dtype that has none")
        return
    if not 0 < elsize < 1 << 31 or (subarray is not None) == (fields is not None) and subarray is not None:
        raise Refused(f"sets a dtype's state to {_short(state)}")
    if fields is not None:
        if type(names) is not tuple or type(fields) is not dict or not all(type(n) is str for n in names):
            raise Refused("sets a structured dtype's state with malformed names or fields")
        titles = {f[2] for f in fields.values() if type(f) is tuple and len(f) == 3}
        if set(fields) != set(names) | titles:  # a field outside names would be invisible to the checks
            raise Refused("sets a structured dtype with fields that are not among its names")
        for name in names:  # a title key must be the very same field as its name
            entry = fields[name]
            if type(entry) is not tuple or len(entry) == 3 and fields.get(entry[2]) != entry:
                raise Refused("sets a structured dtype whose title names a different field")
    elif subarray is not None and not (type(subarray) is tuple and len(subarray) == 2 and _ints(subarray[1])):
        raise Refused("sets a subarray dtype's state with a malformed shape")


def _check_dtype(np: Any, dtype: Any) -> None:
    """A dtype's flags and size must be what NumPy computes for its fields: an object field
    must be flagged as one, or raw bytes would turn into object pointers."""
    try:
        if dtype.fields is not None:
            if dtype.subdtype is not None:
                raise Refused("uses a dtype that is both structured and a subarray")
            names = list(dtype.names)
            titles = {f[2] for f in dtype.fields.values() if len(f) > 2 and f[2] is not None}
            if set(dtype.fields) != set(names) | titles:
                raise Refused("uses a structured dtype with fields that are not among its names")
            fields = [dtype.fields[n] for n in names]
            reference = np.dtype({"names": names, "formats": [f[0] for f in fields], "offsets": [f[1] for f in fields],
                                  "titles": [f[2] if len(f) > 2 else None for f in fields], "itemsize": dtype.itemsize})
        elif dtype.subdtype is not None:
            reference = np.dtype(dtype.subdtype)
        else:
            reference = np.dtype(dtype.str)
    except Refused:
        raise
    except Exception as error:
        raise Refused(f"uses a dtype NumPy cannot rebuild ({_one_line(error)})") from None
    plain = dtype.fields is None and dtype.subdtype is None
    if not plain and dtype.fields is not None and dict(dtype.fields) != dict(reference.fields):
        raise Refused("uses a structured dtype whose fields are not what its names and titles say")
    if dtype.flags != reference.flags or dtype.itemsize != reference.itemsize or dtype != reference or \
            plain and dtype.hasobject != (dtype.kind == "O"):
        raise Refused(f"uses a dtype whose flags ({dtype.flags}) are not what NumPy computes for {reference} "
                      f"({reference.flags})")


def _ints(value: Any) -> bool:
    return type(value) is tuple and all(type(v) is int and 0 <= v < 1 << 48 for v in value) or \
        type(value) is int and 0 <= value < 1 << 48
