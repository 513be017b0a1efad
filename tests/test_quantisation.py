"""Per-token int8 activations (model.training.quantisation) on a one-product graph, against numpy.

The whole encoder path with the rewritten graph (batch independence, onnxruntime's fusions) is in
tests/test_encoder.py on the tiny encoder.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the quantisation tests need the train extra (onnx)")
onnxruntime = pytest.importorskip("onnxruntime")

from model.training.quantisation import LEVELS, ZERO_POINT, QuantisationError, per_token_activations, quantise  # noqa: E402

IN, OUT = 24, 5


def _product_graph(folder, weights: np.ndarray):
    """An fp32 graph ``y = x @ weights`` with ``x`` of shape ``(batch, tokens, IN)``."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "product",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "tokens", IN])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "tokens", OUT])],
        [numpy_helper.from_array(weights, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = folder / "product.onnx"
    onnx.save(model, str(path))
    return path


def _run(path, x):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": x})[0]


@pytest.fixture
def product(tmp_path):
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(IN, OUT)).astype(np.float32)
    path = quantise(_product_graph(tmp_path, weights), tmp_path / "product_int8.onnx")
    return path, {array.name: onnx.numpy_helper.to_array(array) for array in onnx.load(str(path)).graph.initializer}


def test_each_token_is_quantised_with_its_own_scale(product):
    path, arrays = product
    rng = np.random.default_rng(1)
    # Tokens of very different sizes: one scale for the tensor would round the small ones to nothing.
    x = (rng.normal(size=(2, 3, IN)) * np.array([0.01, 1.0, 50.0])[None, :, None]).astype(np.float32)
    x[1, 2] = 0.0
    scale = np.abs(x).max(axis=-1, keepdims=True) / LEVELS
    integers = np.clip(np.round(x / np.where(scale > 0, scale, 1.0)) + ZERO_POINT, 0, 255)
    assert integers.min() >= ZERO_POINT - LEVELS and integers.max() <= ZERO_POINT + LEVELS
    weights = arrays["w_quantized"].astype(np.float64) - arrays["w_zero_point"]
    expected = (integers - ZERO_POINT) @ weights * arrays["w_scale"] * scale
    np.testing.assert_allclose(_run(path, x), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(_run(path, x)[1, 2], 0.0)


def test_a_token_gets_the_same_output_alone_and_beside_larger_ones(product):
    path, _ = product
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 4, IN)).astype(np.float32)
    x[2] *= 100.0
    np.testing.assert_array_equal(_run(path, x)[0, 0], _run(path, x[:1, :1])[0, 0])


def test_only_a_dynamically_quantised_graph_is_rewritten(product, tmp_path):
    path, _ = product
    with pytest.raises(QuantisationError, match="no DynamicQuantizeLinear"):
        per_token_activations(onnx.load(str(path)))
    fp32 = _product_graph(tmp_path, np.ones((IN, OUT), np.float32))
    with pytest.raises(QuantisationError, match="no DynamicQuantizeLinear"):
        per_token_activations(onnx.load(str(fp32)))
