"""State checks after an object is rebuilt: no dunder attributes, and the compiled estimators'
arrays (trees, sparse matrices, histogram predictors) within the bounds their C code assumes.
"""

from __future__ import annotations

import re
from typing import Any

from store.safety.verdicts import Refused, _one_line, _short

_DUNDER = re.compile(r"^__.*__$")


def _refuse_dunders(state: Any) -> None:
    for part in (state if type(state) is tuple and len(state) == 2 else (state,)):
        if type(part) is dict:
            for k in part:
                if not isinstance(k, str):
                    raise Refused(f"sets an attribute named {_short(k)}, not a string")
                if _DUNDER.match(k):
                    raise Refused(f"sets the attribute {k}, and state may never set dunder attributes")


def _check_native_state(np: Any, obj: Any) -> None:
    """Compiled code trusts the indices some objects carry (tree links, sparse indices, a
    generator's position): a file that lies about them corrupts memory when the model is used.
    Checked here for the classes known to carry them."""
    kind = f"{type(obj).__module__}:{type(obj).__qualname__}"
    try:
        problem = _native_problem(np, kind, obj)
    except Refused:
        raise
    except Exception as error:
        problem = f"cannot be checked ({_one_line(error)})"
    if problem:
        raise Refused(f"builds a {kind.replace(':', '.')} whose {problem}")


def _native_problem(np: Any, kind: str, obj: Any) -> str | None:
    def links(left: Any, right: Any, inner: Any) -> str | None:
        n = len(left)
        for child in (left[inner], right[inner]):  # children come after their parent, inside the tree
            if child.size and ((child - inner).min() <= 0 or child.max() >= n):
                return "tree links point outside the tree or backwards"
        return None

    if kind == "sklearn.tree._tree:Tree":
        nodes = obj.__getstate__()["nodes"]  # a view of the node array: no copy
        left, right, feature = nodes["left_child"], nodes["right_child"], nodes["feature"]
        inner = np.flatnonzero(left != -1)
        if np.count_nonzero(right != -1) != inner.size or inner.size and np.any(right[inner] == -1):
            return "tree has nodes with one child"
        if inner.size and (feature[inner].min() < 0 or feature[inner].max() >= obj.n_features):
            return "tree splits on features it does not have"
        return links(left, right, inner)
    if kind == "sklearn.ensemble._hist_gradient_boosting.predictor:TreePredictor":
        nodes = obj.nodes
        inner = np.flatnonzero(~nodes["is_leaf"].astype(bool))
        if inner.size and nodes["feature_idx"][inner].min() < 0:
            return "tree splits on negative features"
        categorical = inner[nodes["is_categorical"][inner].astype(bool)]
        if categorical.size and nodes["bitset_idx"][categorical].max() >= len(obj.raw_left_cat_bitsets):
            return "tree points past its category bitsets"
        return links(nodes["left"].astype(np.int64), nodes["right"].astype(np.int64), inner)
    if kind.startswith("sklearn.ensemble._hist_gradient_boosting.gradient_boosting:HistGradientBoosting"):
        return _hist_gradient_boosting_problem(np, obj)
    if kind.startswith("scipy.sparse") and getattr(obj, "format", None) in ("lil", "dia", "dok"):
        return _sparse_problem(np, obj)
    if hasattr(obj, "check_format") and kind.startswith("scipy.sparse"):
        obj.check_format(full_check=True)
        return None
    if kind.startswith("scipy.sparse") and hasattr(obj, "_check"):
        obj._check()
        if obj.nnz and (obj.row.min() < 0 or obj.col.min() < 0 or obj.row.max() >= obj.shape[0] or obj.col.max() >= obj.shape[1]):
            return "indices are outside its shape"
        return None
    if isinstance(obj, (np.random.BitGenerator, np.random.RandomState)):
        state = obj.state if isinstance(obj, np.random.BitGenerator) else obj.get_state(legacy=False)
        inner = state.get("state", {})
        if state.get("bit_generator") == "MT19937" and not (0 <= int(inner.get("pos", -1)) <= 624
                                                           and len(inner.get("key", ())) == 624):
            return "Mersenne Twister position is outside its key"
        if state.get("bit_generator") == "Philox" and not 0 <= int(state.get("buffer_pos", -1)) <= 4:
            return "Philox buffer position is outside its buffer"
        return None
    if kind.endswith(("_kd_tree:KDTree", "_ball_tree:BallTree")):
        return _binary_tree_problem(np, obj)
    return None


def _binary_tree_problem(np: Any, tree: Any) -> str | None:
    """KD and ball trees walk an implicit binary tree (children of i at 2i+1, 2i+2) over their arrays."""
    state = tree.__getstate__()
    data, idx, nodes, bounds = state[:4]
    n_levels, n_nodes, weights = state[5], state[6], state[12]
    n = len(data)
    if data.ndim != 2 or len(idx) != n or (n and (idx.min() < 0 or idx.max() >= n)):
        return "index array points outside its data"
    if not 0 < n_levels < 64 or n_nodes != 2 ** n_levels - 1 or len(nodes) != n_nodes or bounds.ndim != 3 \
            or bounds.shape[1] != n_nodes or bounds.shape[2] != data.shape[1]:
        return "node arrays do not hold its node count"
    if np.any((nodes["idx_start"] < 0) | (nodes["idx_end"] > n) | (nodes["idx_start"] > nodes["idx_end"])):
        return "nodes point outside its data"
    inner = np.flatnonzero(nodes["is_leaf"] == 0)
    if inner.size and 2 * inner.max() + 2 >= n_nodes:
        return "inner nodes have children past the node arrays"
    if weights is not None and np.shape(weights) != (n,):
        return "sample weights do not match its data"
    return None


def _sparse_problem(np: Any, matrix: Any) -> str | None:
    """The sparse formats without a format check of their own: their indices must fit the shape."""
    rows, cols = (int(n) for n in matrix.shape)
    if matrix.format == "lil":
        if len(matrix.rows) != rows or len(matrix.data) != rows:
            return "rows do not match its shape"
        for index, values in zip(matrix.rows, matrix.data):
            if type(index) is not list or type(values) is not list or len(index) != len(values) or \
                    any(type(c) is not int or not 0 <= c < cols for c in index):
                return "column indices are outside its shape"
    elif matrix.format == "dia":
        data, offsets = np.asarray(matrix.data), np.asarray(matrix.offsets)
        if data.ndim != 2 or offsets.ndim != 1 or len(offsets) != data.shape[0] or offsets.dtype.kind not in "iu":
            return "diagonals and offsets do not match"
    else:  # dok
        for key in matrix.keys():
            if not (type(key) is tuple and len(key) == 2 and 0 <= key[0] < rows and 0 <= key[1] < cols):
                return "keys are outside its shape"
    return None


def _hist_gradient_boosting_problem(np: Any, model: Any) -> str | None:
    """Its predictors index the input's columns and the known-category bitsets without bounds checks."""
    predictors = getattr(model, "_predictors", None)
    if predictors is None:
        return None  # not fitted
    width = int(model.n_features_in_)
    categorical = getattr(model, "is_categorical_", None)
    for row in predictors:
        for predictor in row:
            nodes = predictor.nodes
            inner = ~nodes["is_leaf"].astype(bool)
            features = nodes["feature_idx"][inner]
            if features.size and features.max() >= width:
                return "trees split on features past the model's input width"
            on_categories = features[nodes["is_categorical"][inner].astype(bool)]
            if on_categories.size and (categorical is None or not np.all(np.asarray(categorical)[on_categories])):
                return "trees treat features as categorical that the model does not"
    return None
