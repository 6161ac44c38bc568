"""The invoice import: one workflow (`workflows.py`), its thin activities (`activities.py`) and
the small dataclasses they exchange through Temporal history (`models.py`)."""
