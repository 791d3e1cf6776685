"""The drawing pad: a gr.HTML component made for handwriting, and the answers it feeds.

The pad records strokes as points (pointer events: mouse, touch, pen) with Undo and Clear;
its value is the pad's strokes, size and pen as JSON. Its HTML and JS are the files in
`digits/web/static/` that the static page uses too, so the app and the page cannot drift.
Own pointer handling (about 120 lines) rather than a drawing library: the libraries on npm
(signature_pad, perfect-freehand) draw variable-width Bezier ink, and the models must see
exactly the round pen the pad shows, which `digits.recognition.strokes` draws again.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from digits import web
from digits.recognition.strokes import NUMBER_PAD, NUMBER_PEN_PX, PAD_PX, PEN_PX

from .views import A_NUMBER, ONE_DIGIT

PADS = {ONE_DIGIT: {"width": PAD_PX, "height": PAD_PX, "pen": PEN_PX},
        A_NUMBER: {"width": NUMBER_PAD[0], "height": NUMBER_PAD[1], "pen": NUMBER_PEN_PX}}


def empty_pad(mode: str = ONE_DIGIT) -> dict[str, Any]:
    """A blank pad in this writing mode: a square for a digit, twice as wide for a number."""
    return {"strokes": [], **PADS.get(mode, PADS[ONE_DIGIT])}

from gradio.events import Dependency

class DrawingPad(gr.HTML):
    """The pad as a Gradio component; `change` fires after every stroke, Undo and Clear, and
    `input` too while the explanations panel is open."""

    def __init__(self, mode: str = ONE_DIGIT, **kwargs: Any):
        super().__init__(value=empty_pad(mode), html_template=web.script("pad.html"),
                         js_on_load=web.script("pad.js"), samples=web.samples(), **kwargs)

    def api_info(self) -> dict[str, Any]:
        return {"type": "object", "description": 'the pad\'s drawing: {"strokes": [[[x, y], ...], ...], '
                                                 '"width": W, "height": H, "pen": P}'}
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


def results_template(part: str = "") -> str:
    """A gr.HTML template that draws a results dict with `views.js` (loaded by the page's head,
    as on the static page). Until the script has loaded it draws nothing; the component's
    `js_on_load` (REPAINT) then draws it again."""
    call = f"digitsRender(value, {part!r})" if part else "digitsRender(value)"
    return "${window.digitsRender ? " + call + " : ''}"


# Runs when a results component loads: the head's scripts are there now, so draw once more.
REPAINT = "props.value = Object.assign({}, props.value, {painted: true});"