"""The learning loop (issue 15 items 4–5): ``citywall train``, ``citywall evaluate``, promotion and rollback.

- ``train``: a dataset from ``citywall dataset export`` → a fine-tuned (or from-scratch) YOLO, its ONNX export and
  its model card (Ultralytics, imported only there and only when the command runs: the service never loads it).
- ``evaluate``: held-out decided cases replayed through the live pipeline with a candidate and the current card.
- ``promotion``: the site's ``model:`` switched (analytics.yaml through the editor, a history row, the audit log)
  only with an evaluation attached, the previous card kept for rollback, the running service following at once.
"""
