"""Ridge-regression baseline encoder with per-voxel regularisation (himalaya)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from brainembed.errors import BrainembedValueError
from brainembed.validation import (
    as_float_array,
    check_int,
    check_is_fitted,
    check_method,
    is_integer,
    validate_estimator_data,
)

__all__ = ["RidgeEncoder"]

SOLVERS = ("auto", "primal", "dual")
BACKENDS = ("numpy", "torch", "torch_cuda")


class RidgeEncoder(RegressorMixin, BaseEstimator):
    """Linear encoder from image features to voxel responses, one ridge penalty per voxel.

    Features are standardised with the training images' mean and standard
    deviation; each voxel's penalty is chosen by K-fold cross-validation over
    ``alphas`` with :class:`himalaya.ridge.RidgeCV` (or, with more features than
    images, :class:`himalaya.kernel_ridge.KernelRidgeCV` with a linear kernel,
    which solves the same problem faster). An intercept is fitted per voxel.

    Parameters
    ----------
    alphas : array of shape (n_alphas,), default=np.logspace(-2, 6, 17)
        Candidate ridge penalties (on standardised features).
    cv : int or scikit-learn splitter, default=5
        Cross-validation folds. An int gives a shuffled ``KFold`` seeded by
        ``random_state``.
    solver : {"auto", "primal", "dual"}, default="auto"
        ``"primal"``: RidgeCV on features; ``"dual"``: kernel ridge with a
        linear kernel; ``"auto"``: dual when n_features > n_images.
    backend : {"numpy", "torch", "torch_cuda"}, default="numpy"
        himalaya backend used during ``fit`` only; the previous backend is
        restored afterwards. Prediction always runs in numpy.
    n_targets_batch : int, optional
        Voxels solved at once during cross-validation (bounds memory).
    random_state : int or None
        Seed of the fold shuffling.

    Attributes
    ----------
    coef_ : array of shape (n_features, n_voxels)
        Weights on standardised features.
    intercept_ : array of shape (n_voxels,)
    best_alphas_ : array of shape (n_voxels,)
        Penalty selected for each voxel.
    cv_scores_ : array of shape (n_voxels,)
        Cross-validated score at the selected penalty: himalaya's default,
        the negative mean squared error, averaged over folds.
    feature_mean_, feature_scale_ : array of shape (n_features,)
        Standardisation learnt on the training images.
    n_features_in_ : int
    single_target_ : bool
        Whether ``fit`` got a 1-D ``y`` (then ``predict`` returns a 1-D array).
    """

    def __init__(self, alphas=None, cv=5, solver="auto", backend="numpy", n_targets_batch=None,
                 random_state=None):
        self.alphas = alphas
        self.cv = cv
        self.solver = solver
        self.backend = backend
        self.n_targets_batch = n_targets_batch
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # one voxel per column of Y
        return tags

    def _alphas(self):
        alphas = np.logspace(-2, 6, 17) if self.alphas is None else self.alphas
        alphas = as_float_array("alphas", np.atleast_1d(alphas), ndim=1)
        if alphas.size == 0 or (alphas <= 0).any():
            raise BrainembedValueError("alphas must be a non-empty array of positive penalties.")
        return alphas

    def _cv(self, n_images):
        if is_integer(self.cv):
            from sklearn.model_selection import KFold

            n_splits = check_int("cv", self.cv, 2, n_images)
            return KFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
        if not hasattr(self.cv, "split"):
            raise BrainembedValueError(f"cv must be an integer or a scikit-learn splitter, got {self.cv!r}.")
        return self.cv

    def fit(self, X, y):
        """Fit the encoder.

        Parameters
        ----------
        X : array of shape (n_images, n_features)
            Image features (e.g. backbone activations).
        y : array of shape (n_images, n_voxels) or (n_images,)
            Measured responses (one voxel when 1-D).

        Returns
        -------
        self : RidgeEncoder
        """
        check_method("solver", self.solver, SOLVERS)
        check_method("backend", self.backend, BACKENDS)
        if y is None:
            raise BrainembedValueError("RidgeEncoder requires y to be passed, but the target y is None; give the "
                                       "responses, an array of shape (n_images, n_voxels).")
        X = validate_estimator_data(self, X, reset=True, dtype=np.float64, ensure_min_samples=2)
        Y = as_float_array("y", y)
        if Y.ndim not in (1, 2):
            raise BrainembedValueError(f"y must have shape (n_images, n_voxels) or (n_images,), got {Y.shape}.")
        if len(X) != len(Y):
            raise BrainembedValueError(f"X has {len(X)} images (rows) but y has {len(Y)}; they must match.")
        self.single_target_ = Y.ndim == 1
        Y = Y.reshape(len(Y), -1)
        alphas = self._alphas()
        cv = self._cv(X.shape[0])

        self.feature_mean_ = X.mean(axis=0)
        scale = X.std(axis=0)
        self.feature_scale_ = np.where(scale > 1e-12 * np.maximum(np.abs(self.feature_mean_), 1.0), scale, 1.0)
        X_std = (X - self.feature_mean_) / self.feature_scale_
        n_images, n_features = X_std.shape
        dual = self.solver == "dual" or (self.solver == "auto" and n_features > n_images)
        solver_params = {"n_targets_batch": self.n_targets_batch} if self.n_targets_batch else None

        from himalaya.backend import get_backend, set_backend

        previous = get_backend()
        backend = set_backend(self.backend, on_error="raise")
        try:
            if dual:
                from himalaya.kernel_ridge import KernelRidgeCV

                model = KernelRidgeCV(alphas=alphas, kernel="linear", fit_intercept=True, cv=cv,
                                      solver_params=solver_params)
            else:
                from himalaya.ridge import RidgeCV

                model = RidgeCV(alphas=alphas, fit_intercept=True, cv=cv, solver_params=solver_params)
            # GPU backends run in float32; numpy keeps float64 for exact comparisons.
            dtype = np.float64 if self.backend == "numpy" else np.float32
            model.fit(X_std.astype(dtype), Y.astype(dtype))
            if dual:
                coef = X_std.T @ np.asarray(backend.to_numpy(model.dual_coef_), dtype=np.float64)
            else:
                coef = backend.to_numpy(model.coef_)
            self.coef_ = np.asarray(coef, dtype=np.float64)
            self.intercept_ = np.asarray(backend.to_numpy(model.intercept_), dtype=np.float64)
            self.best_alphas_ = np.asarray(backend.to_numpy(model.best_alphas_), dtype=np.float64)
            self.cv_scores_ = np.asarray(backend.to_numpy(model.cv_scores_), dtype=np.float64)
        finally:
            set_backend(previous)
        return self

    def predict(self, X):
        """Predict responses.

        Parameters
        ----------
        X : array of shape (n_images, n_features)
            Image features, same columns as in ``fit``.

        Returns
        -------
        Y_pred : array of shape (n_images, n_voxels)
            Or (n_images,) when fitted on a 1-D ``y``.
        """
        check_is_fitted(self, "coef_")
        X = validate_estimator_data(self, X, reset=False, dtype=np.float64)
        Y_pred = ((X - self.feature_mean_) / self.feature_scale_) @ self.coef_ + self.intercept_
        return Y_pred[:, 0] if self.single_target_ else Y_pred

    def score(self, X, y):
        """Median over voxels of the Pearson correlation between predictions and ``y``.

        Parameters
        ----------
        X : array of shape (n_images, n_features)
        y : array of shape (n_images, n_voxels) or (n_images,)

        Returns
        -------
        score : float
        """
        from brainembed.evaluation.metrics import pearson_per_voxel

        Y_pred = self.predict(X)
        return float(np.median(pearson_per_voxel(Y_pred.reshape(len(Y_pred), -1), np.reshape(y, (len(Y_pred), -1)))))
