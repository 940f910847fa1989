"""scikit-learn's own estimator checks, over every estimator of the package."""

import pytest
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_get_feature_names_out_error,
    check_param_validation,
    check_set_output_transform,
    check_global_output_transform_pandas,
    check_set_output_transform_pandas,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
    parametrize_with_checks,
)

from _instances import tiny_autoencoder, tiny_clusterers

ESTIMATORS = [tiny_autoencoder(), *tiny_clusterers()]

#: Checks expected to fail, with the reason. Kept empty: every check must pass.
EXPECTED_FAILED_CHECKS = {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_compatible(estimator, check):
    check(estimator)


EXTRA_CHECKS = [
    check_param_validation,
    check_dataframe_column_names_consistency,
    check_get_feature_names_out_error,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_global_output_transform_pandas,
]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: repr(e)[:60])
@pytest.mark.parametrize("check", EXTRA_CHECKS, ids=lambda c: c.__name__)
def test_extra_checks(estimator, check):
    check(type(estimator).__name__, estimator)


def test_expected_failures_table_is_empty():
    assert EXPECTED_FAILED_CHECKS == {}
