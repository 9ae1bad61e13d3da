"""The single writer: the pipeline that batches inbound messages and commands, plans each
batch (`plan.py`), commits it in one transaction and only then acknowledges and announces it."""
