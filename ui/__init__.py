"""The Gradio UI of `demo.py`, one module per part of the page. It calls the `digits` library;
the library never imports it.

  state     what every visitor's page shares (AppState) and the server's settings
  views     pure helpers: answers, readings and tables as HTML, pictures and frames
  draw      the Draw tab: sketchpad, answers on every stroke, Clear, the HTTP API
  feedback  confirm or correct an answer (stored only with consent)
  why       "Why this answer?": each model's evidence
  train     the Train tab: a background job, its progress and card
  cards     the Models tab: cards, MNIST mistakes, scores on visitors' drawings
"""
