"""Every ONNX operator the importer accepts, against onnx's own reference evaluator on dyadic
values (small enough that float32 is exact, so the comparison is an equality)."""

from fractions import Fraction

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from nets.onnx_import import restrict_to_line  # noqa: E402


def _c(name, values):
    return numpy_helper.from_array(
        np.asarray(values, dtype=np.float32 if np.asarray(values).dtype.kind == "f" else np.int64), name
    )


#: (nodes, per-sample input shape, initializers)
CASES = {
    "Gemm transB": (
        [helper.make_node("Gemm", ["x", "W", "b"], ["y"], transB=1, alpha=0.5, beta=2.0)],
        (3,),
        [_c("W", [[1, -0.5, 0.25], [0.75, 1, -1]]), _c("b", [0.5, -0.25])],
    ),
    "MatMul": ([helper.make_node("MatMul", ["x", "W"], ["y"])], (3,), [_c("W", [[1, 0.5], [-0.5, 1], [0.25, 0]])]),
    "Add/Sub/Mul/Div with broadcast": (
        [
            helper.make_node("Add", ["x", "c1"], ["a"]),
            helper.make_node("Sub", ["c2", "a"], ["s"]),
            helper.make_node("Mul", ["s", "c3"], ["m"]),
            helper.make_node("Div", ["m", "c4"], ["y"]),
        ],
        (2, 2, 2),
        [_c("c1", [[[0.5]], [[-1.0]]]), _c("c2", [0.25, 0.5]), _c("c3", 2.0), _c("c4", [[[4.0]], [[-0.5]]])],
    ),
    "Neg/Relu/Abs/LeakyRelu": (
        [
            helper.make_node("Neg", ["x"], ["n"]),
            helper.make_node("Relu", ["n"], ["r"]),
            helper.make_node("Add", ["r", "x"], ["s"]),
            helper.make_node("Abs", ["s"], ["a"]),
            helper.make_node("LeakyRelu", ["a"], ["y"], alpha=0.25),
        ],
        (4,),
        [],
    ),
    "Clip (inputs)": ([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])], (4,), [_c("lo", -0.5), _c("hi", 0.75)]),
    "Max/Min variadic": (
        [
            helper.make_node("Neg", ["x"], ["n"]),
            helper.make_node("Max", ["x", "n", "c"], ["m"]),
            helper.make_node("Min", ["m", "x"], ["y"]),
        ],
        (4,),
        [_c("c", [0.25, -0.25, 0.5, 0.0])],
    ),
    "Concat/Slice/Split": (
        [
            helper.make_node("Split", ["x"], ["p", "q"], axis=1),
            helper.make_node("Concat", ["q", "p", "q"], ["cat"], axis=1),
            helper.make_node("Slice", ["cat", "starts", "ends", "axes", "steps"], ["y"]),
        ],
        (4, 2),
        [_c("starts", [0, 1]), _c("ends", [5, 2]), _c("axes", [1, 2]), _c("steps", [2, 1])],
    ),
    "Flatten/Reshape": (
        [helper.make_node("Flatten", ["x"], ["f"], axis=1), helper.make_node("Reshape", ["f", "shape"], ["y"])],
        (2, 3),
        [_c("shape", [0, 3, -1])],
    ),
    "Less/Greater/LessOrEqual/GreaterOrEqual + Where": (
        [
            helper.make_node("Less", ["x", "t"], ["lt"]),
            helper.make_node("Sub", ["x", "t"], ["d"]),
            helper.make_node("Neg", ["x"], ["n"]),
            helper.make_node("Where", ["lt", "d", "n"], ["w1"]),
            helper.make_node("GreaterOrEqual", ["w1", "t"], ["ge"]),
            helper.make_node("Where", ["ge", "w1", "t"], ["y"]),
        ],
        (4,),
        [_c("t", [0.0, 0.0, 0.0, 0.0])],
    ),
    "ReduceMax/ReduceMin/TopK": (
        [
            helper.make_node("ReduceMax", ["x"], ["a"], axes=[2], keepdims=1),
            helper.make_node("ReduceMin", ["x"], ["b"], axes=[1, 2], keepdims=1),
            helper.make_node("TopK", ["x", "k"], ["top", "idx"], axis=2),
            helper.make_node("Concat", ["a", "top"], ["c"], axis=2),
            helper.make_node("Flatten", ["c"], ["f"]),
            helper.make_node("Flatten", ["b"], ["g"]),
            helper.make_node("Concat", ["f", "g"], ["y"], axis=1),
        ],
        (2, 3),
        [_c("k", [2])],
    ),
    "Transpose/Pad/Concat with zeros": (
        [
            helper.make_node("Transpose", ["x"], ["tr"], perm=[0, 2, 1]),
            helper.make_node("Pad", ["tr", "pads"], ["p"], mode="reflect"),
            helper.make_node("Concat", ["p", "zeros"], ["y"], axis=1),
        ],
        (2, 3),
        [_c("pads", [0, 1, 0, 0, 0, 1]), _c("zeros", np.zeros((1, 2, 3)))],
    ),
    "Conv groups/strides/dilations": (
        [
            helper.make_node(
                "Conv", ["x", "K", "b"], ["y"], group=2, strides=[2, 1], dilations=[1, 2], pads=[1, 2, 0, 1]
            )
        ],
        (2, 4, 4),
        [_c("K", np.arange(-4, 4).reshape(2, 1, 2, 2) / 4), _c("b", [0.5, -0.5])],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_operator_matches_the_reference_evaluator(case):
    nodes, shape, inits = CASES[case]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, *shape])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    data = model.SerializeToString()
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = (rng.integers(-8, 9, (1, *shape)) / 8).astype(np.float32)
        (want,) = ReferenceEvaluator(model).run(None, {"x": x})
        got = restrict_to_line(data, x[0], x[0] + 1)(0)
        assert got == tuple(Fraction(float(v)) for v in want.ravel()), case
