"""Training data from the operators' decisions: ``citywall dataset export`` and ``citywall dataset stats``."""
