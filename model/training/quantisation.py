"""int8 quantisation of the exported encoder: int8 weights, activations quantised per token.

``onnxruntime.quantization.quantize_dynamic`` stores the weights as int8 and quantises each matrix product's
input at run time with ``DynamicQuantizeLinear``: one scale and zero point for the whole tensor, that is for every
token of every window in the call. A comment's scores then depended on the other comments of its batch and on the
padding of its window (bundles 2.2.0-2.6.0: toxicity up to 0.076 apart, alone or in a batch of 100), and a
comment sent alone over HTTP could get another decision than the same comment in an archive run.

``per_token_activations`` rewrites each ``DynamicQuantizeLinear`` so that every token (the last axis of the
activation) gets its own scale: a token's integers depend on that token's values only, so a window scores the same
alone, in any batch and with any padding (real tokens never attend to padding). The quantisation is symmetric with
``LEVELS`` steps each side of a fixed zero point ``ZERO_POINT``: the uint8 inputs stay in ``[1, 127]``, so a pair
of products ``u8 * s8`` never exceeds the int16 range that onnxruntime's AVX2 kernels (``vpmaddubsw``) saturate at,
and the integer sums are exact on every x86 CPU, with or without AVX-512 VNNI (a per-tensor graph's results
differed between the two). The weights are untouched: the file is the same size.

The graph is rewritten with ``onnx`` (a training-only dependency); serving runs the result with onnxruntime alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

LEVELS = 63
"""Quantisation steps each side of zero: 7-bit activations, so that ``u8 * s8`` pairs cannot saturate int16."""
ZERO_POINT = 64
"""The fixed uint8 zero point: activations map into ``[ZERO_POINT - LEVELS, ZERO_POINT + LEVELS]``."""
SCHEME = f"int8 weights; activations per token, symmetric, {LEVELS} levels each side of zero point {ZERO_POINT}"
"""What the manifest records as the encoder's quantisation."""
CONTRIB_DOMAIN = "com.microsoft"
"""onnxruntime's operator domain (``MatMulIntegerToFloat``): the graph runs on onnxruntime, as the bundle's encoder must."""
TINY = 1e-30
"""Smallest scale: a token whose activations are all 0 quantises to the zero point instead of dividing by 0."""


class QuantisationError(ValueError):
    """A graph that does not have the shape ``quantize_dynamic`` gives; the message says what was found."""


def quantise(source: Path, target: Path) -> Path:
    """int8 weights (``quantize_dynamic``), then activations per token (``per_token_activations``): ``target``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    onnx.save(per_token_activations(onnx.load(str(target))), str(target))
    return target


def scheme_of(path: Path) -> str:
    """The quantisation a graph file has, as a manifest records it."""
    import onnx

    ops = {node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node}
    if "DynamicQuantizeLinear" in ops:
        return "dynamic int8 (activations per tensor: scores depend on the batch)"
    return SCHEME if ops & {"MatMulInteger", "MatMulIntegerToFloat"} else "none (float)"


def _graph_maps(graph):
    producers = {output: node for node in graph.node for output in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    return producers, consumers


def _only_consumer(consumers, name: str, op_type: str):
    found = consumers.get(name, [])
    if len(found) != 1 or found[0].op_type != op_type:
        raise QuantisationError(f"{name} feeds {[node.op_type for node in found]}, expected one {op_type}")
    return found[0]


def per_token_activations(model):
    """Rewrite a ``quantize_dynamic`` graph in place to quantise activations per token; returns ``model``.

    Each ``DynamicQuantizeLinear(x)`` becomes ``scale = max|x| / LEVELS`` over the last axis and
    ``QuantizeLinear(x / scale, 1, ZERO_POINT)``; each ``MatMulInteger -> Cast -> Mul(x_scale * w_scale)`` it
    feeds becomes ``MatMulIntegerToFloat(.., 1, w_scale, ZERO_POINT, w_zero) -> Mul(scale)``.

    ``MatMulIntegerToFloat`` (onnxruntime's ``com.microsoft`` operator) computes the integer sums and multiplies
    each by the weight scale in one kernel, as ``MatMulInteger -> Cast -> Mul(w_scale)`` does in three (bundle
    2.7.0's graph): the same float operations in the same order, so the outputs are equal bit for bit
    (``tests/test_quantisation.py``), with two nodes fewer per product (74 in the 2.6.0 graph's 37). Its ``a_scale`` is 1: the operator reads
    a non-scalar ``a_scale`` as one per column, not per row, so the token scale is a ``Mul`` after it
    (``tests/test_encoder.py`` runs the graph with and without onnxruntime's graph optimisations).
    """
    from onnx import checker, helper, numpy_helper

    graph = model.graph
    producers, consumers = _graph_maps(graph)
    names = {"levels": "per_token_levels", "tiny": "per_token_tiny", "one": "per_token_one",
             "zero_point": "per_token_zero_point"}
    constants = [numpy_helper.from_array(np.array(float(LEVELS), np.float32), names["levels"]),
                 numpy_helper.from_array(np.array(TINY, np.float32), names["tiny"]),
                 numpy_helper.from_array(np.array(1.0, np.float32), names["one"]),
                 numpy_helper.from_array(np.array(ZERO_POINT, np.uint8), names["zero_point"])]
    replaced, dropped = {}, set()
    dynamic = [node for node in graph.node if node.op_type == "DynamicQuantizeLinear"]
    if not dynamic:
        raise QuantisationError("the graph has no DynamicQuantizeLinear node: is it quantize_dynamic's output, "
                                "or has it been rewritten already?")
    for quantiser in dynamic:
        source, (quantised, x_scale, _) = quantiser.input[0], quantiser.output
        prefix = f"{quantised}_per_token"
        scale, integers = f"{prefix}_scale", f"{prefix}_integers"
        replaced[id(quantiser)] = [
            helper.make_node("Abs", [source], [f"{prefix}_abs"]),
            helper.make_node("ReduceMax", [f"{prefix}_abs"], [f"{prefix}_absmax"], axes=[-1], keepdims=1),
            helper.make_node("Max", [f"{prefix}_absmax", names["tiny"]], [f"{prefix}_range"]),
            helper.make_node("Div", [f"{prefix}_range", names["levels"]], [scale]),
            helper.make_node("Div", [source, scale], [f"{prefix}_steps"]),
            helper.make_node("QuantizeLinear", [f"{prefix}_steps", names["one"], names["zero_point"]], [integers]),
        ]
        for product in consumers.get(quantised, []):
            if product.op_type != "MatMulInteger":
                raise QuantisationError(f"{quantised} feeds a {product.op_type}, expected MatMulInteger")
            _, weights, _, weight_zero = product.input
            cast = _only_consumer(consumers, product.output[0], "Cast")
            rescale = _only_consumer(consumers, cast.output[0], "Mul")
            scales = producers.get(rescale.input[1])
            if (scales is None or scales.op_type != "Mul" or x_scale not in scales.input
                    or len(consumers[scales.output[0]]) != 1):
                raise QuantisationError(f"{rescale.name} does not multiply by {x_scale} times a weight scale")
            weight_scale = next(name for name in scales.input if name != x_scale)
            out = f"{weights}_per_token"
            replaced[id(rescale)] = [
                helper.make_node("MatMulIntegerToFloat", [integers, weights, names["one"], weight_scale,
                                                          names["zero_point"], weight_zero],
                                 [f"{out}_weighted"], domain=CONTRIB_DOMAIN),
                helper.make_node("Mul", [f"{out}_weighted", scale], [rescale.output[0]]),
            ]
            dropped.update({id(product), id(cast), id(scales)})
    nodes = []
    for node in graph.node:
        if id(node) in replaced:
            nodes.extend(replaced[id(node)])
        elif id(node) not in dropped:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(constants)
    if not any(opset.domain == CONTRIB_DOMAIN for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid(CONTRIB_DOMAIN, 1))
    checker.check_model(model)
    return model
