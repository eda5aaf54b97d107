"""Stand-ins the tests, the benches and the bundle's smoke test share: tiny ONNX models with real
manifests (``tiny_models``, needs ``onnx`` from the [train] or [test] extra) and a real Orthanc on
loopback (``orthanc``). Torch-free; nothing LungLens runs imports them (an import contract says so)."""
