"""One module per peer. Each has NAME and unavailable() (None, or why it cannot run here);
training peers have trainer(cfg, X, y) -> run(k) (trains k epochs, returns the epochs done;
may carry run.compile_seconds and run.note); serving peers have
predictor(cfg, model, threads) -> predict(X) returning class probabilities, where
model = {"net": the trained mlpcore Sequential, "layers": its weights as the neutral list of
mlpcore_peer.export_layers}: every serving peer runs the same weights.
Imports of the peer's library happen inside these functions, never at module import."""

TRAINING = ["mlpcore_peer", "torch_eager", "torch_compile", "jax_jit", "jax_scan", "sklearn_peer"]
SERVING = ["mlpcore_peer", "torch_eager", "onnxruntime_peer"]


def load(name):
    import importlib

    return importlib.import_module(f"peers.{name}")
