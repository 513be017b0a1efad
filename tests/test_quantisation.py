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


def _unfused(model):
    """Bundle 2.7.0's form of a rewritten graph: each ``MatMulIntegerToFloat(a, w, 1, w_scale, a_zero, w_zero)``
    as ``MatMulInteger(a, w, a_zero, w_zero) -> Cast -> Mul(w_scale)``."""
    from onnx import TensorProto, helper

    nodes = []
    for node in model.graph.node:
        if node.op_type != "MatMulIntegerToFloat":
            nodes.append(node)
            continue
        a, w, _, w_scale, a_zero, w_zero = node.input
        sums, floats = f"{node.output[0]}_sums", f"{node.output[0]}_float"
        nodes += [helper.make_node("MatMulInteger", [a, w, a_zero, w_zero], [sums]),
                  helper.make_node("Cast", [sums], [floats], to=TensorProto.FLOAT),
                  helper.make_node("Mul", [floats, w_scale], list(node.output))]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


def test_the_products_run_in_one_kernel_and_equal_the_three_node_form_bit_for_bit(product, tmp_path):
    path, _ = product
    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert "MatMulIntegerToFloat" in ops and "MatMulInteger" not in ops and "Cast" not in ops
    three_nodes = tmp_path / "three_nodes.onnx"
    onnx.save(_unfused(onnx.load(str(path))), str(three_nodes))
    assert "MatMulInteger" in [node.op_type for node in onnx.load(str(three_nodes)).graph.node]
    x = np.random.default_rng(3).normal(size=(4, 7, IN)).astype(np.float32) * 3.0
    np.testing.assert_array_equal(_run(path, x), _run(three_nodes, x))


def test_scheme_of_names_both_forms_of_the_per_token_graph(product, tmp_path):
    from model.training.quantisation import SCHEME, scheme_of

    path, _ = product
    three_nodes = tmp_path / "three_nodes.onnx"
    onnx.save(_unfused(onnx.load(str(path))), str(three_nodes))
    assert scheme_of(path) == scheme_of(three_nodes) == SCHEME
    assert scheme_of(_product_graph(tmp_path, np.ones((IN, OUT), np.float32))) == "none (float)"


@pytest.mark.slow
def test_rewriting_the_committed_2_6_0_encoder_gives_2_8_0_and_scores_as_2_7_0_bit_for_bit(tmp_path):
    """``make requantise`` rewrites 2.6.0's encoder: the result is 2.8.0's file byte for byte, and its
    MatMulIntegerToFloat products give 2.7.0's logits and hidden states (MatMulInteger -> Cast -> Mul) exactly, on
    windows of several lengths in one batch."""
    from model.bundle import read_manifest, resolve_bundle_path, sha256_file

    folders = {version: resolve_bundle_path(version) for version in ("2.6.0", "2.7.0", "2.8.0")}
    rewritten = tmp_path / "encoder.onnx"
    onnx.save(per_token_activations(onnx.load(str(folders["2.6.0"] / "encoder.onnx"))), str(rewritten))
    assert sha256_file(rewritten) == read_manifest(folders["2.8.0"])["files"]["encoder.onnx"]["sha256"]
    rng = np.random.default_rng(4)
    ids = rng.integers(1000, 29000, size=(3, 64)).astype(np.int64)
    ids[:, 0], mask = 101, np.ones_like(ids)
    for row, length in enumerate((64, 30, 9)):
        ids[row, length - 1], ids[row, length:], mask[row, length:] = 102, 0, 0
    feeds = {"input_ids": ids, "attention_mask": mask}
    ours, committed = (onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)
                       for path in (rewritten, folders["2.7.0"] / "encoder.onnx"))
    assert len(ours) == len(committed) == 2
    for found, expected in zip(ours, committed):
        np.testing.assert_array_equal(found, expected)
