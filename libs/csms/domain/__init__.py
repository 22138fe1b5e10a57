"""Protocol-neutral domain: model, translators and projections as pure functions."""
