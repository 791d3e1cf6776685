"""digits: MNIST models, a canvas-to-28x28 pipeline, one training engine, safe weights."""

from .models import create_model, get_spec, list_models
from .predict import ModelStore, Prediction, predict, predict_all
from .preprocess import Preprocessed, preprocess

__all__ = [
    "ModelStore",
    "Prediction",
    "Preprocessed",
    "create_model",
    "get_spec",
    "list_models",
    "predict",
    "predict_all",
    "preprocess",
]
