"""Policy outside the model: what may run, what a person reviews, what is refused.

- ``gate``: the verdict on every proposal (``auto`` | ``review`` | ``deny``), shadow rules, and
  when an action runs (now, or at the commit point);
- ``scope``: arguments bound to the task's context (an order id the task is about);
- ``text_types``: ``PlainText`` and ``SingleLine``, text a model cannot smuggle markup through;
- ``redaction``: sensitive arguments hidden from everything a person or a system reads.

Pure and deterministic: the workflow imports these modules.
"""
