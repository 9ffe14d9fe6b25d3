"""Transformers scikit-learn lacks or skl2onnx cannot convert, with their ONNX converters.

- :class:`Winsorizer` clips each feature to limits learned on the training
  split (quantiles); ONNX: ``Max(Min(x, upper), lower)``.
- ``QuantileTransformer`` (uniform output): skl2onnx 1.20's converter differs
  from scikit-learn on values tied with a training quantile (up to 1.4e-3)
  and takes ~90 s to build for a few hundred quantiles; the converter here
  reproduces scikit-learn's forward/backward interpolation exactly.
- ``KNNImputer`` is refused: skl2onnx converts it, but not faithfully (see ``UNFAITHFUL``).
- ``sklearn.impute.MissingIndicator(features="all")``: skl2onnx 1.20 has no
  converter (and silently drops ``SimpleImputer(add_indicator=True)``'s
  extra columns), so one is registered here; ONNX: ``Cast(IsNaN(x))``.

:func:`check_convertible` refuses, before anything is fitted, any step that
skl2onnx cannot put into the bundle's graph, naming the recipe key.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import MissingIndicator
from sklearn.utils.validation import check_is_fitted, validate_data

from shipyard.errors import RecipeError


class Winsorizer(TransformerMixin, BaseEstimator):
    """Clip each feature to its ``[quantile, 1 - quantile]`` range on the fitting rows.

    Parameters
    ----------
    quantile : float
        In (0, 0.5); e.g. 0.01 clips to the 1st and 99th percentiles.

    Attributes
    ----------
    lower_, upper_ : ndarray of shape (n_features,)
        Limits learned in :meth:`fit` (NaN ignored).
    """

    def __init__(self, quantile: float = 0.01) -> None:
        self.quantile = quantile

    def fit(self, X: Any, y: Any = None) -> "Winsorizer":
        """Learn the limits from ``X`` of shape (n_rows, n_features)."""
        X = validate_data(self, X, ensure_all_finite="allow-nan", dtype=np.float64)
        self.lower_ = np.nanquantile(X, self.quantile, axis=0)
        self.upper_ = np.nanquantile(X, 1 - self.quantile, axis=0)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Clip ``X`` of shape (n_rows, n_features) to the learned limits."""
        check_is_fitted(self)
        X = validate_data(self, X, ensure_all_finite="allow-nan", dtype=np.float64, reset=False)
        return np.minimum(np.maximum(X, self.lower_), self.upper_)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Same names as the input."""
        from sklearn.utils.validation import _check_feature_names_in

        return _check_feature_names_in(self, input_features)


def _same_width_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    source = operator.inputs[0].type.shape
    operator.outputs[0].type = FloatTensorType([source[0], source[1] if len(source) > 1 else None])


def _convert_winsorizer(scope: Any, operator: Any, container: Any) -> None:
    from skl2onnx.algebra.onnx_ops import OnnxMax, OnnxMin

    op, opv = operator.raw_operator, container.target_opset
    upper = op.upper_.astype(np.float32)
    lower = op.lower_.astype(np.float32)
    node = OnnxMax(OnnxMin(operator.inputs[0], upper, op_version=opv), lower, op_version=opv, output_names=operator.outputs[:1])
    node.add_to(scope, container)


def _convert_missing_indicator(scope: Any, operator: Any, container: Any) -> None:
    from onnx import TensorProto
    from skl2onnx.algebra.onnx_ops import OnnxCast, OnnxIsNaN

    op, opv = operator.raw_operator, container.target_opset
    if op.features != "all" or not (isinstance(op.missing_values, float) and np.isnan(op.missing_values)):
        raise NotImplementedError("only MissingIndicator(missing_values=nan, features='all') is converted")
    node = OnnxCast(OnnxIsNaN(operator.inputs[0], op_version=opv), to=TensorProto.FLOAT, op_version=opv, output_names=operator.outputs[:1])
    node.add_to(scope, container)


def _convert_quantile_transformer(scope: Any, operator: Any, container: Any) -> None:
    """``QuantileTransformer(output_distribution="uniform")`` exactly as scikit-learn computes it.

    scikit-learn averages a forward and a backward ``np.interp`` of each value
    over the feature's training quantiles, so a value tied with a run of equal
    quantiles maps to the middle of their references. Written as a sum of
    ramps, one per segment between consecutive quantiles (batch, features,
    segments): ``clip((x - q_k) / (q_{k+1} - q_k), 0, 1) * dr_k``, and for
    zero-width segments (tied quantiles) a step ``([x > q_k] + 0.5 [x == q_k]) * dr_k``;
    values equal to the first/last quantile map to 0/1. Computed in float64.
    """
    from onnx import TensorProto
    from skl2onnx.algebra.onnx_ops import (
        OnnxAdd,
        OnnxCast,
        OnnxClip,
        OnnxDiv,
        OnnxEqual,
        OnnxGreater,
        OnnxMul,
        OnnxReduceSum,
        OnnxSub,
        OnnxUnsqueeze,
        OnnxWhere,
    )

    op, opv = operator.raw_operator, container.target_opset
    if op.output_distribution != "uniform":
        raise NotImplementedError("only QuantileTransformer(output_distribution='uniform') is converted")
    q = op.quantiles_.T.astype(np.float64)  # (features, m)
    r = np.asarray(op.references_, dtype=np.float64)  # (m,)
    lo, hi = q[:, :-1], q[:, 1:]
    width = hi - lo
    dr = np.broadcast_to(np.diff(r), width.shape)
    ramp_w = np.where(width > 0, dr, 0.0)
    step_w = np.where(width > 0, 0.0, dr)
    f64 = np.float64
    # In float64 throughout, as scikit-learn computes: a quantile 1e-10 below a whole number
    # must stay below it.
    x2 = OnnxCast(operator.inputs[0], to=TensorProto.DOUBLE, op_version=opv)  # (batch, features)
    x = OnnxUnsqueeze(x2, np.array([2], dtype=np.int64), op_version=opv)  # (batch, features, 1)
    ramp = OnnxClip(
        OnnxDiv(OnnxSub(x, lo, op_version=opv), np.where(width > 0, width, 1.0), op_version=opv),
        np.array(0, dtype=f64),
        np.array(1, dtype=f64),
        op_version=opv,
    )
    step = OnnxAdd(
        OnnxCast(OnnxGreater(x, lo, op_version=opv), to=TensorProto.DOUBLE, op_version=opv),
        OnnxMul(OnnxCast(OnnxEqual(x, lo, op_version=opv), to=TensorProto.DOUBLE, op_version=opv), np.array(0.5, dtype=f64), op_version=opv),
        op_version=opv,
    )
    total = OnnxAdd(OnnxMul(ramp, ramp_w, op_version=opv), OnnxMul(step, step_w, op_version=opv), op_version=opv)
    y = OnnxAdd(OnnxReduceSum(total, np.array([2], dtype=np.int64), keepdims=0, op_version=opv), np.array(r[0], dtype=f64), op_version=opv)
    # scikit-learn maps values equal to the first/last quantile to exactly 0/1 (beyond them the sum already is).
    y = OnnxWhere(OnnxEqual(x2, q[:, -1], op_version=opv), np.array(r[-1], dtype=f64), y, op_version=opv)
    y = OnnxWhere(OnnxEqual(x2, q[:, 0], op_version=opv), np.array(r[0], dtype=f64), y, op_version=opv)
    y = OnnxCast(y, to=TensorProto.FLOAT, op_version=opv, output_names=operator.outputs[:1])
    y.add_to(scope, container)


def register_converters() -> None:
    """Register Shipyard's ONNX converters with skl2onnx (idempotent).

    :class:`Winsorizer`, ``MissingIndicator`` (none in skl2onnx), and
    ``QuantileTransformer`` (replacing skl2onnx's, which differs from
    scikit-learn on tied quantiles).
    """
    from skl2onnx import update_registered_converter
    from sklearn.preprocessing import QuantileTransformer

    update_registered_converter(Winsorizer, "ShipyardWinsorizer", _same_width_shape, _convert_winsorizer)
    update_registered_converter(MissingIndicator, "ShipyardMissingIndicator", _same_width_shape, _convert_missing_indicator)
    update_registered_converter(QuantileTransformer, "ShipyardQuantileTransformer", _same_width_shape, _convert_quantile_transformer)


NOT_CONVERTIBLE_HINTS = {
    "IterativeImputer": ("prepare.numeric_imputer 'iterative'", "use 'median', 'mean', 'most_frequent' or 'constant' with prepare.missing_indicator"),
}
UNFAITHFUL = {
    # skl2onnx 1.20 converts KNNImputer, but its graph picks neighbours among rows that also
    # lack the value, so rows missing two or more values are imputed differently from
    # scikit-learn (differences of several standard deviations were measured). A faithful
    # graph was tried and measured too: scikit-learn computes nan-Euclidean distances as
    # x.x + t.t - 2 x.t (in float32 for float32 input, where a distance of 0.19 came out 0),
    # and neighbours at equal or nearly equal distance are ordered differently by numpy's
    # argpartition and ONNX TopK, so one imputed value in a few hundred differed (0.6 in
    # 'mean texture' on breast_cancer with 25% holes): the bundle could not keep 1e-5 parity.
    "KNNImputer": (
        "prepare.numeric_imputer 'knn'",
        "the ONNX graph cannot reproduce scikit-learn's choice among neighbours at (nearly) equal distance",
        "use 'median' or 'mean' with prepare.missing_indicator: true",
    ),
}


def check_convertible(estimator: Any) -> None:
    """Refuse a preprocessing step skl2onnx cannot convert, before anything is fitted.

    Parameters
    ----------
    estimator : scikit-learn estimator
        A ``Pipeline``/``ColumnTransformer`` tree (fitted or not).

    Raises
    ------
    RecipeError
        Naming the recipe key that asked for the step, the class and the
        skl2onnx version, with an alternative that can be exported.
    """
    import skl2onnx
    from skl2onnx._supported_operators import sklearn_operator_name_map

    register_converters()
    for step in _walk(estimator):
        kind = type(step)
        if kind.__name__ in UNFAITHFUL:
            key, why, hint = UNFAITHFUL[kind.__name__]
            raise RecipeError(f"{key}: cannot be exported faithfully to ONNX: {why}", hint)
        if kind not in sklearn_operator_name_map:
            key, hint = NOT_CONVERTIBLE_HINTS.get(kind.__name__, (f"preprocessing step {kind.__name__}", "choose another option"))
            raise RecipeError(
                f"{key}: skl2onnx {skl2onnx.__version__} cannot convert {kind.__name__} to ONNX, so the bundle could not apply it",
                hint,
            )


def _walk(estimator: Any) -> list[Any]:
    out = [estimator]
    if hasattr(estimator, "steps"):
        for _, step in estimator.steps:
            out += _walk(step)
    if hasattr(estimator, "transformers"):
        for _, part, _ in getattr(estimator, "transformers_", estimator.transformers):
            if not isinstance(part, str):
                out += _walk(part)
    return out


register_converters()
