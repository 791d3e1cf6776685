"""digits: MNIST models, a canvas-to-28x28 pipeline, one training engine, safe weights.

`digits.predict(image, model=...)` and `digits.predict_all(image)` are the entry points;
the modules are named after the data flow: data -> models -> engine -> weights, and
canvas -> preprocess -> inference.
"""

from digits.explain.explanations import explain, explain_all
from digits.models import create_model, get_spec, list_models
from digits.recognition.inference import ModelStore, Prediction, predict, predict_all
from digits.recognition.reading import Reading, read, read_all

__all__ = ["ModelStore", "Prediction", "Reading", "create_model", "explain", "explain_all", "get_spec",
           "list_models", "predict", "predict_all", "read", "read_all"]
