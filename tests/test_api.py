"""The app's API as a caller sees it, through the official gradio_client."""

from __future__ import annotations

import base64
import io
import json

import pytest
from gradio_client import Client
from PIL import Image

from digits.synthetic.sketches import app_canvas, number_canvas
from tests.devserver import AppStartError, running_app

SEVEN = json.dumps({"strokes": [[[90, 80], [250, 80], [150, 290]]], "width": 336, "height": 336, "pen": 28})


def _b64(canvas) -> str:
    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    env = {"DIGITS_FEEDBACK": str(tmp_path_factory.mktemp("fb")), "DIGITS_TRAINING": "on"}
    try:
        with running_app(env, tmp_path_factory.mktemp("log") / "app.log") as app:
            yield Client(app.url, verbose=False)
    except AppStartError as exc:
        pytest.fail(str(exc))


def test_every_endpoint_names_its_parameters_as_a_caller_reads_them(client):
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    names = {endpoint: [p["parameter_name"] for p in info["parameters"]] for endpoint, info in api.items()}
    assert names["/predict"] == ["drawing", "model"]
    assert names["/classify"] == ["drawing", "model"]
    assert names["/read"] == ["drawing", "model"]
    assert names["/feedback"] == ["drawing", "label", "consent"]
    assert names["/train"] == ["model", "epochs", "batch_size", "learning_rate", "visitors_drawings", "finetune",
                               "negatives"]
    unnamed = [(e, n) for e, ps in names.items() for n in ps if n.startswith("param_") or len(n) == 1]
    assert not unnamed


def test_predict_classify_and_read_answer_json(client):
    one = client.predict(SEVEN, "lenet5", api_name="/predict")
    assert one["model"] == "lenet5" and one["digit"] == 7 and one["reason"] is None
    every = client.predict(_b64(app_canvas(3, variant=0)), "modern", api_name="/classify")
    assert every["selected"] == "modern" and [int(max(range(10), key=m["probs"].__getitem__))
                                              for m in every["models"]] == [3] * 4
    number = client.predict(_b64(number_canvas("305", canvas=(336, 336), height_frac=0.3, gap=0.3)), "modern",
                            api_name="/read")
    assert [r["text"] for r in number["readings"]] == ["305"] * 4


def test_feedback_keeps_the_label_it_is_given(client):
    said = client.predict(SEVEN, "7", True, api_name="/feedback")
    assert "kept as **7**" in said
    assert "nothing is stored" in client.predict(SEVEN, "7", False, api_name="/feedback")
    assert "is not a label" in client.predict(SEVEN, "None", True, api_name="/feedback")
