"""The ground floor: how every settings file of citywall is read, checked and reported.

``streams``, ``vision`` and ``wall`` each own the schema of their part of the configuration; this package owns
what they share and imports none of them: the strict base model (:mod:`settings.model`), YAML reading
(:mod:`settings.yaml_reader`), ``${ENV}`` substitution (:mod:`settings.env`), the ``file: key.path: reason``
error lines (:mod:`settings.errors`), validating one file's data (:mod:`settings.loading`) and the rule that
keeps credentials out of every message (:mod:`settings.secrets`).
"""
